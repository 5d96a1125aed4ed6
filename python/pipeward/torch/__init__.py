"""Differentially private training of PyTorch models on pipeward's kernels, as Opacus does it.

``PrivacyEngine`` keeps Opacus' ``PrivacyEngine`` API (``make_private``,
``make_private_with_epsilon``, ``get_epsilon``): the module records per-sample gradients,
the optimizer clips, sums and noises them with :func:`pipeward.clip_and_noise` before the
wrapped optimizer's step, the data loader samples Poisson batches, and an accountant counts
every step. ``make_private`` is the one-call form.

Needs the ``torch`` extra; importing :mod:`pipeward` never imports torch.
"""

from __future__ import annotations

from .data_loader import DPDataLoader
from .engine import PrivacyEngine, make_private
from .module import PerSampleGradModule
from .optimizer import DPOptimizer

__all__ = ["DPDataLoader", "DPOptimizer", "PerSampleGradModule", "PrivacyEngine", "make_private"]
