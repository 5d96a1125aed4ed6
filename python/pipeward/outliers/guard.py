"""``InputGuard``: score each inference batch against a fitted detector and keep counts."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._npfile import load_npz
from .detector import MahalanobisDetector
from .persist import detector_arrays, detector_from_arrays, dumps_settings, loads_settings
from .thresholds import benjamini_hochberg

_FORMAT = "pipeward-input-guard/1"


@dataclass(frozen=True)
class GuardResult:
    """Per-row squared distances, p-values and flags (True: out of distribution)."""

    distances: np.ndarray
    pvalues: np.ndarray
    flags: np.ndarray

    @property
    def n_flagged(self) -> int:
        return int(self.flags.sum())


class InputGuard:
    """Flag inference inputs far from the training distribution.

    Each row's p-value comes from the detector's clean-data law (conformal, Hotelling or
    chi2; see ``MahalanobisDetector.pvalues``). A row is flagged when ``p <= alpha``
    (false-positive rate alpha per row), or, with ``correction="bh"``, by Benjamini-Hochberg
    over the batch (false discovery rate alpha). Running counts are kept for monitoring and
    are safe to update from several threads. A guard pickles (its lock is recreated) and
    saves to a ``.npz`` of plain arrays with :meth:`save` / :meth:`load`.
    """

    def __init__(self, detector: MahalanobisDetector, *, alpha: float = 0.01,
                 correction: str | None = None):
        if not isinstance(detector, MahalanobisDetector):
            raise TypeError(f"detector: expected a MahalanobisDetector, got "
                            f"{type(detector).__name__}")
        if not hasattr(detector, "location_"):
            raise ValueError("detector: fit it on clean training data first")
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
        if correction not in (None, "bh"):
            raise ValueError(f"correction must be None or 'bh', got {correction!r}")
        self.detector = detector
        self.alpha = float(alpha)
        self.correction = correction
        self._lock = threading.Lock()
        self.reset()

    def check(self, X: Any) -> GuardResult:
        """Score one batch: distances, p-values and flags; updates the running counts."""
        d2 = self.detector.mahalanobis(X).astype(np.float64)
        p = self.detector._pvalues_of(d2)
        flags = benjamini_hochberg(p, self.alpha) if self.correction == "bh" else p <= self.alpha
        with self._lock:
            self.n_seen += int(d2.size)
            self.n_flagged += int(flags.sum())
            self.n_batches += 1
        return GuardResult(d2, p, flags)

    __call__ = check

    @property
    def flagged_rate(self) -> float:
        return self.n_flagged / self.n_seen if self.n_seen else 0.0

    def counts(self) -> dict[str, float]:
        with self._lock:
            return {"batches": self.n_batches, "seen": self.n_seen, "flagged": self.n_flagged,
                    "flagged_rate": self.flagged_rate}

    def reset(self) -> None:
        with self._lock:
            self.n_seen = 0
            self.n_flagged = 0
            self.n_batches = 0

    # -- persistence -----------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]  # a lock is per process; a fresh one is made on loading
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the guard (settings, counts and the fitted detector) to a ``.npz`` file of
        plain arrays and JSON (no pickle)."""
        detector, arrays = detector_arrays(self.detector, "detector_")
        with self._lock:
            counts = {"n_seen": self.n_seen, "n_flagged": self.n_flagged,
                      "n_batches": self.n_batches}
        settings = {"format": _FORMAT, "alpha": self.alpha, "correction": self.correction,
                    "counts": counts, "detector": detector}
        with open(path, "wb") as fh:
            np.savez_compressed(fh, settings=dumps_settings(settings), **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> InputGuard:
        """Read a guard written by :meth:`save` (``allow_pickle=False``); a malformed or
        hand-edited file is a ``ValueError``."""
        z = load_npz(path)
        try:
            settings = loads_settings(z["settings"])
            if settings.get("format") != _FORMAT:
                raise ValueError(f"format is {settings.get('format')!r:.60}, expected {_FORMAT!r}")
            detector = detector_from_arrays(settings["detector"], z, "detector_")
            self = cls(detector, alpha=settings["alpha"], correction=settings["correction"])
            counts = settings["counts"]
            for name in ("n_seen", "n_flagged", "n_batches"):
                if not (isinstance(counts[name], int) and counts[name] >= 0):
                    raise ValueError(f"{name} must be a non-negative integer")
                setattr(self, name, counts[name])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            what = f"missing {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
            raise ValueError(f"{os.fspath(path)}: not a valid pipeward input guard: "
                             f"{what}") from None
        return self
