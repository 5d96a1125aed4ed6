"""``PrivacyEngine``: Opacus' entry point, with pipeward's kernels and accountants."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ..privacy import _checks
from ..privacy.accountant_pld import PLDAccountant
from ..privacy.accountant_rdp import OPACUS_ORDERS, RDPAccountant, noise_multiplier_for
from .data_loader import DPDataLoader
from .module import PerSampleGradModule
from .optimizer import DPOptimizer


def _accountant(name: str) -> RDPAccountant | PLDAccountant:
    if name == "rdp":
        return RDPAccountant(orders=OPACUS_ORDERS)  # Opacus' orders: Opacus' epsilons
    if name == "pld":
        return PLDAccountant()
    if name in ("prv", "gdp"):
        raise ValueError(f"accountant {name!r} is Opacus' own; pipeward offers 'rdp' (Opacus' "
                         "RDP numbers) and 'pld' (as tight as 'prv', never optimistic)")
    raise ValueError(f"accountant must be 'rdp' or 'pld', got {name!r}")


class PrivacyEngine:
    """Opacus' ``PrivacyEngine``, run on pipeward: ``make_private`` returns the module,
    optimizer and data loader to train with, ``get_epsilon(delta)`` the privacy spent.

    ``accountant="rdp"`` (the default) equals Opacus' RDP accountant; Opacus 1.6 defaults to
    ``"prv"``, which reports a smaller epsilon (seen: 2.17 where RDP says 2.46): use
    ``"pld"`` for an accountant as tight as that. ``secure_mode=True`` draws the noise from
    ChaCha20 seeded by the OS (:func:`pipeward.clip_and_noise` with ``secure=True``).
    """

    def __init__(self, *, accountant: str = "rdp", secure_mode: bool = False,
                 seed: int | None = None) -> None:
        self.accountant = _accountant(accountant)
        self.accountant_name = accountant
        self.secure_mode = bool(secure_mode)
        self._rng = np.random.default_rng(seed)

    def make_private(self, *, module: nn.Module, optimizer: torch.optim.Optimizer,
                     criterion: Any = None, data_loader: DataLoader, noise_multiplier: float,
                     max_grad_norm: float, batch_first: bool = True,
                     loss_reduction: str = "mean", poisson_sampling: bool = True,
                     clipping: str = "flat", noise_generator: torch.Generator | None = None,
                     grad_sample_mode: str = "hooks", wrap_model: bool = True,
                     rand_on_empty: bool = False, **unsupported: Any
                     ) -> tuple[PerSampleGradModule, DPOptimizer, DataLoader]:
        """Opacus' ``make_private``, same keywords: flat clipping, Poisson sampling by
        default. Per-sample gradients come from PyTorch's expanded weights whatever
        ``grad_sample_mode`` names ("hooks", "functorch" and "ew" give the same numbers);
        ``criterion`` only matters to Opacus' ghost clipping, which is not offered."""
        if unsupported:
            raise TypeError(f"make_private got arguments pipeward does not support: "
                            f"{sorted(unsupported)}")
        if clipping != "flat" or not isinstance(max_grad_norm, (int, float)):
            raise ValueError("clipping must be 'flat' with one max_grad_norm (per-layer "
                             "clipping: call pipeward.clip_and_noise with one norm per tensor), "
                             f"got {clipping!r} with {max_grad_norm!r}")
        if grad_sample_mode not in ("hooks", "functorch", "ew"):
            raise ValueError(f"grad_sample_mode must be 'hooks', 'functorch' or 'ew', got "
                             f"{grad_sample_mode!r} (ghost clipping is not offered)")
        if not wrap_model or rand_on_empty:
            raise ValueError("pipeward always wraps the model (wrap_model=True) and adds plain "
                             "noise on an empty batch (rand_on_empty=False)")
        del criterion  # accepted for Opacus' signature
        sigma = _checks.noise_multiplier(noise_multiplier)
        norm = _checks.positive(max_grad_norm, "max_grad_norm")
        if not isinstance(module, nn.Module) or not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError("module must be a torch.nn.Module and optimizer a "
                            f"torch.optim.Optimizer, got {type(module).__name__} and "
                            f"{type(optimizer).__name__}")
        owned = {id(p) for p in module.parameters()}
        if any(id(p) not in owned for g in optimizer.param_groups for p in g["params"]):
            raise ValueError("the optimizer holds parameters that are not the module's")
        if poisson_sampling:
            data_loader = DPDataLoader.from_data_loader(data_loader, seed=self._rng)
            sample_rate = data_loader.sample_rate
            expected = int(len(data_loader.dataset) * sample_rate)  # Opacus' rule
        else:
            if data_loader.batch_size is None:
                raise ValueError("without Poisson sampling the data loader needs a batch_size")
            sample_rate = 1 / len(data_loader)
            expected = data_loader.batch_size
        wrapped = PerSampleGradModule(module, batch_first=batch_first,
                                      loss_reduction=loss_reduction)
        dp_optimizer = DPOptimizer(
            optimizer, noise_multiplier=sigma, max_grad_norm=norm,
            expected_batch_size=max(1, expected), loss_reduction=loss_reduction,
            sample_rate=sample_rate, accountant=self.accountant, secure_mode=self.secure_mode,
            seed=self._rng if noise_generator is None else np.random.default_rng(
                int(torch.randint(2**62, (1,), generator=noise_generator))))
        return wrapped, dp_optimizer, data_loader

    def make_private_with_epsilon(self, *, module: nn.Module, optimizer: torch.optim.Optimizer,
                                  data_loader: DataLoader, target_epsilon: float,
                                  target_delta: float, epochs: int, max_grad_norm: float,
                                  epsilon_tolerance: float = 0.01, **kwargs: Any
                                  ) -> tuple[PerSampleGradModule, DPOptimizer, DataLoader]:
        """The noise multiplier that spends ``target_epsilon`` in ``epochs`` epochs (Opacus'
        ``get_noise_multiplier``: steps = int(epochs / sample_rate)), then ``make_private``."""
        if len(data_loader) == 0:
            raise ValueError("the data loader yields no batches")
        sample_rate = 1 / len(data_loader)
        orders = OPACUS_ORDERS if self.accountant_name == "rdp" else None
        sigma = noise_multiplier_for(target_epsilon, target_delta, sample_rate,
                                     int(epochs / sample_rate), accountant=self.accountant_name,
                                     tolerance=epsilon_tolerance, orders=orders)
        return self.make_private(module=module, optimizer=optimizer, data_loader=data_loader,
                                 noise_multiplier=sigma, max_grad_norm=max_grad_norm, **kwargs)

    def get_epsilon(self, delta: float) -> float:
        """Epsilon spent so far at ``delta``."""
        return self.accountant.get_epsilon(delta)


def make_private(module: nn.Module, optimizer: torch.optim.Optimizer, data_loader: DataLoader,
                 *, max_grad_norm: float, noise_multiplier: float | None = None,
                 target_epsilon: float | None = None, target_delta: float | None = None,
                 epochs: int | None = None, accountant: str = "rdp", secure_mode: bool = False,
                 seed: int | None = None, **kwargs: Any
                 ) -> tuple[PerSampleGradModule, DPOptimizer, DataLoader, PrivacyEngine]:
    """One call: a :class:`PrivacyEngine` and its ``make_private`` (``noise_multiplier``) or
    ``make_private_with_epsilon`` (``target_epsilon``, ``target_delta``, ``epochs``).
    Returns ``(module, optimizer, data_loader, engine)``; ``engine.get_epsilon(delta)``."""
    engine = PrivacyEngine(accountant=accountant, secure_mode=secure_mode, seed=seed)
    if (noise_multiplier is None) == (target_epsilon is None):
        raise ValueError("give either noise_multiplier or target_epsilon (with target_delta and "
                         "epochs)")
    if noise_multiplier is not None:
        parts = engine.make_private(module=module, optimizer=optimizer, data_loader=data_loader,
                                    noise_multiplier=noise_multiplier,
                                    max_grad_norm=max_grad_norm, **kwargs)
    else:
        if target_delta is None or epochs is None:
            raise ValueError("target_epsilon needs target_delta and epochs")
        parts = engine.make_private_with_epsilon(
            module=module, optimizer=optimizer, data_loader=data_loader,
            target_epsilon=target_epsilon, target_delta=target_delta, epochs=epochs,
            max_grad_norm=max_grad_norm, **kwargs)
    return (*parts, engine)
