"""An optimizer wrapper that privatises each step with :func:`pipeward.clip_and_noise`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..privacy.clipping import clip_and_noise


def _as_array(t: torch.Tensor) -> Any:
    """Zero-copy view for pipeward's kernels: NumPy on the CPU, CuPy on a GPU."""
    t = t.detach()
    if not t.is_contiguous():
        t = t.contiguous()  # expanded weights' grad_sample is contiguous; this is the odd case
    if t.device.type == "cpu":
        return np.from_dlpack(t)
    import cupy  # noqa: PLC0415 -- only for GPU tensors

    return cupy.from_dlpack(t)


class DPOptimizer:
    """Wraps ``optimizer``: ``step()`` clips every sample's gradient to L2 norm
    ``max_grad_norm`` over all parameters (Opacus' flat clipping, factor
    min(1, C / (norm + 1e-6))), sums, adds N(0, (noise_multiplier * C)^2) noise, divides by
    ``expected_batch_size`` for ``loss_reduction="mean"``, writes the result to ``p.grad``
    and runs the wrapped optimizer's step; then it tells the accountant.

    The per-sample gradients come from a :class:`PerSampleGradModule` in ``p.grad_sample``;
    a step after an empty batch adds pure noise, as the accounting assumes.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, *, noise_multiplier: float,
                 max_grad_norm: float, expected_batch_size: int, loss_reduction: str = "mean",
                 sample_rate: float, accountant: Any = None, secure_mode: bool = False,
                 seed: int | np.random.Generator | None = None) -> None:
        if loss_reduction not in ("mean", "sum"):
            raise ValueError(f"loss_reduction must be 'mean' or 'sum', got {loss_reduction!r}")
        if not expected_batch_size >= 1:
            raise ValueError(f"expected_batch_size must be >= 1, got {expected_batch_size}")
        self.original_optimizer = optimizer
        self.noise_multiplier = float(noise_multiplier)
        self.max_grad_norm = float(max_grad_norm)
        self.expected_batch_size = int(expected_batch_size)
        self.loss_reduction = loss_reduction
        self.sample_rate = float(sample_rate)
        self.accountant = accountant
        self.secure_mode = bool(secure_mode)
        self._rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    # The wrapped optimizer's state is the state (schedulers and checkpoints see it).
    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.original_optimizer.param_groups

    @property
    def state(self) -> Any:
        return self.original_optimizer.state

    @property
    def defaults(self) -> dict[str, Any]:
        return self.original_optimizer.defaults

    def state_dict(self) -> dict[str, Any]:
        return self.original_optimizer.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.original_optimizer.load_state_dict(state_dict)

    @property
    def params(self) -> list[torch.nn.Parameter]:
        return [p for g in self.param_groups for p in g["params"] if p.requires_grad]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad_sample = None
        self.original_optimizer.zero_grad(set_to_none)

    def privatise(self) -> None:
        """Replace each ``p.grad`` by the clipped, summed, noised (and averaged) gradient."""
        params = self.params
        samples = [getattr(p, "grad_sample", None) for p in params]
        if all(s is None for s in samples):  # an empty batch: pure noise
            arrays = [np.zeros((0, *p.shape), dtype=np.float32 if p.dtype != torch.float64
                               else np.float64) for p in params]
            if params and params[0].device.type != "cpu":
                import cupy  # noqa: PLC0415

                arrays = [cupy.asarray(a) for a in arrays]
        elif any(s is None for s in samples):
            raise RuntimeError("some trainable parameters have no per-sample gradients: was "
                               "the forward pass run through the wrapped module?")
        else:
            arrays = [_as_array(s) for s in samples]
        noisy = clip_and_noise(
            arrays, self.max_grad_norm, self.noise_multiplier, reduction=self.loss_reduction,
            expected_batch_size=self.expected_batch_size,
            seed=None if self.secure_mode else int(self._rng.integers(2**63)),
            secure=self.secure_mode)
        for p, g in zip(params, noisy):
            p.grad = torch.from_dlpack(g).view_as(p).to(p.dtype)
            p.grad_sample = None

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        if closure is not None:
            with torch.enable_grad():
                closure()
        self.privatise()
        if self.accountant is not None:
            self.accountant.step(noise_multiplier=self.noise_multiplier,
                                 sample_rate=self.sample_rate)
        return self.original_optimizer.step()

    def __repr__(self) -> str:
        return (f"DPOptimizer({self.original_optimizer!r}, noise_multiplier="
                f"{self.noise_multiplier}, max_grad_norm={self.max_grad_norm})")
