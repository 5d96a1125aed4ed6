"""The demo's accountability stage: fairness over a synthetic group, explanations, and the
spurious-feature check, each recorded in the audit log.

The Breast Cancer Wisconsin data has no sensitive attribute. To show the fairness assessment,
the demo derives a **synthetic** one: each test row is put in group A or B at random (seed
``seed + 2``, probability 1/2), independently of its features and label. The numbers show the
method at work on real predictions; they say nothing about any real population, and the model
card says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import accountability as acc
from ..audit import AuditLog
from .model import LogisticModel

__all__ = ["SYNTHETIC_NOTE", "AccountabilityResult", "describe", "run_accountability", "synthetic_group"]

SYNTHETIC_NOTE = ("synthetic attribute: the Breast Cancer Wisconsin data has no sensitive attribute, "
                  "so each test row was put in group A or B at random (p = 1/2, seed {seed}), "
                  "independently of its features and label; the numbers demonstrate the method and "
                  "describe no real population")


def synthetic_group(n: int, seed: int) -> np.ndarray:
    """The demo's documented synthetic attribute: "A" or "B" per row, at random."""
    return np.random.default_rng(seed + 2).choice(np.array(["A", "B"]), size=n)


@dataclass
class AccountabilityResult:
    fairness: acc.FairnessAssessment
    explanation: acc.Explanation
    spurious: acc.SpuriousReport
    records: dict[str, int]


def run_accountability(log: AuditLog, model: LogisticModel, S_train: np.ndarray, y_train: np.ndarray,
                       S_test: np.ndarray, y_test: np.ndarray, names: list[str], *, seed: int,
                       limits: dict[str, float], model_name: str, dataset: str,
                       n_background: int = 100) -> AccountabilityResult:
    group = synthetic_group(len(y_test), seed)
    fairness = acc.assess(y_test, model.predict(S_test), {"synthetic_group": group},
                          y_score=model.predict_proba(S_test)[:, 1], random_state=seed)
    fair_rec = acc.record_fairness(log, fairness, model=model_name, dataset=f"{dataset}:test",
                                   limits=limits, note=SYNTHETIC_NOTE.format(seed=seed + 2))
    rng = np.random.default_rng(seed + 3)
    background = S_train[np.sort(rng.choice(len(S_train), size=min(n_background, len(S_train)), replace=False))]
    explanation = acc.explain(model, S_test, background=background, feature_names=names)
    spurious = acc.spurious_features(model, S_train, y_train, S_test, y_test, feature_names=names,
                                     random_state=seed)
    expl_rec = acc.record_explanations(log, explanation, n_background=len(background),
                                       spurious=spurious, model=model_name, dataset=f"{dataset}:test")
    decision = acc.record_decision(log, explanation, 0, model=model_name)
    return AccountabilityResult(fairness, explanation, spurious,
                                {"fairness": fair_rec.seq, "explanations": expl_rec.seq,
                                 "decision": decision.seq})


def describe(result: AccountabilityResult) -> dict[str, Any]:
    f = result.fairness
    return {"demographic_parity_difference": f.demographic_parity_difference,
            "equalized_odds_difference": f.equalized_odds_difference,
            "equal_opportunity_difference": f.equal_opportunity_difference,
            "top_features": list(result.explanation.global_importance())[:5],
            "spurious": list(result.spurious.suspects)}
