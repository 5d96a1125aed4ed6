"""A module wrapper that leaves each parameter's per-sample gradients in ``p.grad_sample``."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils._per_sample_grad import call_for_per_sample_grads

# Layers whose per-sample gradients PyTorch's expanded weights compute exactly.
SUPPORTED_LAYERS: tuple[type[nn.Module], ...] = (
    nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Embedding, nn.LayerNorm, nn.GroupNorm,
    nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)


def check_supported(module: nn.Module) -> None:
    """Refuse a module with trainable parameters in a layer without exact per-sample gradients
    (BatchNorm mixes samples, so it has none: Opacus refuses it too)."""
    for name, sub in module.named_modules():
        own = [p for p in sub.parameters(recurse=False) if p.requires_grad]
        if own and not isinstance(sub, SUPPORTED_LAYERS):
            kinds = ", ".join(t.__name__ for t in SUPPORTED_LAYERS)
            raise ValueError(f"layer {name or '(root)'} ({type(sub).__name__}) has trainable "
                             f"parameters but no per-sample gradients; supported layers: {kinds} "
                             "(replace BatchNorm by GroupNorm, or freeze the layer)")


class PerSampleGradModule(nn.Module):
    """Wraps ``module``: a forward pass on a batch of B samples makes the following backward
    pass store each trainable parameter's B per-sample gradients in ``p.grad_sample``
    (shape ``(B, *p.shape)``), through PyTorch's expanded weights.

    With ``loss_reduction="mean"`` the loss is the batch mean and ``grad_sample`` holds each
    sample's own gradient (the 1/B is taken back), as in Opacus' ``GradSampleModule``.
    """

    def __init__(self, module: nn.Module, *, batch_first: bool = True,
                 loss_reduction: str = "mean") -> None:
        super().__init__()
        if loss_reduction not in ("mean", "sum"):
            raise ValueError(f"loss_reduction must be 'mean' or 'sum', got {loss_reduction!r}")
        check_supported(module)
        self._module = module
        self.batch_first = batch_first
        self.loss_reduction = loss_reduction

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if not args or not isinstance(args[0], torch.Tensor):
            raise TypeError("the first argument must be the batch tensor, got "
                            f"{type(args[0]).__name__ if args else 'nothing'}")
        batch_size = args[0].shape[0 if self.batch_first else 1]
        if batch_size == 0 or not torch.is_grad_enabled():
            return self._module(*args, **kwargs)  # an empty Poisson batch, or evaluation
        per_sample = call_for_per_sample_grads(self._module, batch_size=batch_size,
                                               loss_reduction=self.loss_reduction,
                                               batch_first=self.batch_first)
        return per_sample(*args, **kwargs)
