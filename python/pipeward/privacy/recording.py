"""Writing a DP training run to an audit log (``training.dp``), from an accountant's history."""

from __future__ import annotations

from typing import Any


def record_training(accountant: Any, audit: Any, *, delta: float,
                    max_grad_norm: float | None = None, model: str | None = None,
                    dataset: str | None = None) -> float:
    """Record the accountant's run and its epsilon at ``delta``; return that epsilon.

    The record states one (noise multiplier, sample rate) pair, so a history that changed
    either mid-run is refused rather than summarised wrongly.
    """
    from ..audit.records import record_dp_training  # noqa: PLC0415 - audit is optional here

    settings = {(sigma, q) for sigma, q, t in accountant.history if t}
    if len(settings) != 1:
        raise ValueError(
            "record: the accountant must hold steps at exactly one (noise_multiplier, "
            f"sample_rate) setting, got {len(settings)}; record each phase with its own accountant")
    (sigma, q), = settings
    steps = sum(t for _, _, t in accountant.history)
    epsilon = float(accountant.get_epsilon(delta))
    record_dp_training(audit, noise_multiplier=sigma, sample_rate=q, steps=steps, epsilon=epsilon,
                       delta=delta, max_grad_norm=max_grad_norm, accountant=accountant.mechanism,
                       dataset=dataset, model=model)
    return epsilon
