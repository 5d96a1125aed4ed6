"""A full set of report inputs with known counts, shared by the report tests."""

from __future__ import annotations

import numpy as np

from pipeward.datasets import load_breast_cancer

N_CLEAN, N_POISON = 300, 12
DRIFTED = ("mean texture", "worst texture", "mean smoothness")


def sample_results(seed: int = 7) -> dict:
    rng = np.random.default_rng(seed)
    _, _, names = load_breast_cancer()
    scores = np.concatenate([rng.chisquare(30, N_CLEAN), 40 * rng.chisquare(30, N_POISON)])
    psi_calm = rng.uniform(0.0, 0.1, len(names))
    psi_shift = psi_calm.copy()
    for f in DRIFTED:
        psi_shift[names.index(f)] = rng.uniform(0.4, 1.5)
    steps = np.arange(0, 201, 5)
    return {
        "title": "sample <report> & co",
        "meta": {"dataset": "breast cancer", "seed": seed},
        "checks": [{"stage": "integrity", "ok": True, "summary": "train.csv named"},
                   {"stage": "screen", "ok": False, "summary": "recall 0.5"}],
        "integrity": {"files": 3, "bytes": 123456, "root": "ab" * 32, "signature": "valid",
                      "entries": [{"path": "train.csv", "size": 100, "sha256": "cd" * 32}],
                      "tamper": {"ok": False, "modified": ["train.csv"], "added": [], "removed": []}},
        "screen": {"scores": scores, "cutoff": 70.0, "injected": np.arange(N_CLEAN, N_CLEAN + N_POISON),
                   "quarantined": np.arange(N_CLEAN - 2, N_CLEAN + N_POISON), "precision": 0.86,
                   "recall": 1.0},
        "privacy": {"steps": steps, "epsilon": 0.15 * np.sqrt(steps), "delta": 1e-5, "accuracy": 0.95,
                    "baseline_accuracy": 0.97, "epsilon_final": 0.15 * np.sqrt(200),
                    "noise_multiplier": 1.1, "max_grad_norm": 1.0},
        "drift": [{"name": "held-out split", "features": names, "statistic": psi_calm, "threshold": 0.2,
                   "drifted": psi_calm >= 0.2, "statistic_label": "PSI"},
                  {"name": "shifted split", "features": names, "statistic": psi_shift, "threshold": 0.2,
                   "drifted": psi_shift >= 0.2, "statistic_label": "PSI"}],
        "guard": {"rows": [{"name": "held-out", "n": 100, "flagged": 3},
                           {"name": "corrupted", "n": 100, "flagged": 99}],
                  "cutoff": 60.0,
                  "scores": {"held-out": rng.chisquare(30, 100), "corrupted": 20 * rng.chisquare(30, 100)}},
        "audit": {"ok": True, "entries": 2, "head": "ef" * 32,
                  "events": [{"seq": 0, "time": "2026-11-26T01:00:00Z", "event": "data.manifest",
                              "detail": "3 files"},
                             {"seq": 1, "time": "2026-11-26T01:00:01Z", "event": "data.screen",
                              "detail": "<b>not bold</b>"}]},
        "model_card": {"path": "model_card.md", "text": "# Model card\n\n| a | b |\n"},
    }
