"""The demo's red-team step: attack the DP-trained model before an adversary does.

PGD (L-inf, in standard deviations) at a few budgets gives the robust-accuracy curve; the
loss-threshold membership attack on training rows against held-out rows shows what DP-SGD
buys (next to the same attack on the non-private baseline); with scikit-learn installed, a
query-budgeted extraction trains a surrogate from labels. Every result goes to the audit log
for the model card and the report, and the membership line is a recorded policy check.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["redteam_step"]

EPS = (0.1, 0.25, 0.5)  # L-inf, in standard deviations per feature
MAX_MEMBERSHIP_AUC = 0.6


def redteam_step(model: Any, baseline: Any, S_train: np.ndarray, y_train: np.ndarray, S_test: np.ndarray,
                 y_test: np.ndarray, log: Any, model_name: str, seed: int) -> dict[str, Any]:
    """Run the attacks, record them; returns the numbers the demo prints and checks."""
    from .. import redteam  # noqa: PLC0415
    from ..audit.kinds import REDTEAM_ATTACK  # noqa: PLC0415

    out: dict[str, Any] = {"eps": list(EPS), "clean_accuracy": float(np.mean(model.predict(S_test) == y_test))}
    evasion = [redteam.pgd(model, S_test, y_test, eps, eps / 4, 10) for eps in EPS]
    out["robust_accuracy"] = [r.robust_accuracy for r in evasion]
    X = np.vstack([S_train, S_test])
    y = np.concatenate([y_train, y_test])
    member = np.r_[np.ones(len(S_train), bool), np.zeros(len(S_test), bool)]
    mia = redteam.membership_inference(model, X, y, member, method="loss")
    out["membership_auc"] = mia.auc
    out["membership_auc_non_private"] = redteam.membership_inference(baseline, X, y, member, method="loss").auc
    results: list[Any] = [*evasion, mia]
    if _have_sklearn():  # the surrogate is a scikit-learn model
        half = len(S_test) // 2
        stolen = redteam.extract(model.predict, S_test[:half], budget=half, X_eval=S_test[half:],
                                 y_eval=y_test[half:], seed=seed)
        out.update(extraction_queries=stolen.queries, extraction_fidelity=stolen.fidelity)
        results.append(stolen)
    for r in results:
        r.record(log, subject=model_name, model=model_name)
    log.append(REDTEAM_ATTACK, {"model": model_name, "attack": "membership", "metric": "auc",
                                "value": mia.auc, "threshold": MAX_MEMBERSHIP_AUC,
                                "passed": mia.auc <= MAX_MEMBERSHIP_AUC}, subject=model_name)
    return out


def _have_sklearn() -> bool:
    try:
        import sklearn  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True
