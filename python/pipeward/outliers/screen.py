"""``screen``: find rows to quarantine before training (outliers, flipped labels, backdoors).

Four kinds of evidence, each with its own rule (docs/outliers.md explains them):

* **outliers**: robust squared distances (with labels, to the nearest class location under
  a tied covariance). Real data is rarely Gaussian, so the chi2 law would flag its tails:
  instead the cube roots of the distances (near-normal by Wilson & Hilferty) get robust
  z-scores ``(u - median) / (1.4826 MAD)``, normal p-values, and Benjamini-Hochberg at
  level ``alpha`` over the whole set;
* **label-flip suspects** (labels given; :mod:`pipeward.outliers.labels`): out-of-fold class
  probabilities (a class-conditional Gaussian on the Mahalanobis kernel, or the user's
  classifier) averaged with the k nearest neighbours' votes; the suspects are the rows that
  confident learning's per-class thresholds and estimated noise rates pick, whose label is
  more likely wrong than right, whose flagging by that probability maximises the expected
  F1, or whose conformal p-value passes Benjamini-Hochberg at 10%;
  with ``fdr=q``, exactly the Benjamini-Hochberg discoveries at level q; with ``trusted``
  rows (labels the user vouches for), the p-values are calibrated on those rows alone, which
  makes the false-discovery rate hold by construction (docs/outliers.md says when);
* **tabular backdoor triggers** (labels given; :mod:`pipeward.outliers.backdoor`): features
  whose values spike in a narrow window on rows of one label that lose that label once the
  features are left out;
* **spectral signatures** (labels given; Tran, Li & Madry 2018) for triggers spread thinly
  over many features.

The models are fitted twice: the second fit leaves out the first round's suspects, so a large
poisoned share does not bend the class locations towards itself.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .._logging import logged
from .._validate import estimator_matrix, workers_arg
from . import labels as lab
from .backdoor import Trigger, cluster_rows, find_triggers, robust_z, spectral_signatures
from .class_conditional import ClassConditionalDetector
from .detector import CovarianceWarning, MahalanobisDetector, _ledoit_wolf_from_norms, _oas
from .kernel import comoment_of_rows
from .mcd import _single_threaded_blas
from .thresholds import benjamini_hochberg, chi2_sf


DEFAULT_LABEL_FDR = 0.1  # without fdr=, the BH discoveries at this rate are suspects too
NOISE_PRIOR = 1.0  # without fdr=, pseudo-rows per cell of the confident joint (labels.py)
# Without fdr=, the label model is refitted without the first round's suspects only when
# the confident joint puts at least this share of the labels in another class (measured
# in bench/RESULTS.md: 1% random flips estimate 0.7-2.3%, 5% flips 4.3-7%).
REFIT_NOISE = 0.03
BACKDOOR_MIN_SHARE = 0.005  # a backdoor cluster holds at least this share of the rows (and 5)
BACKDOOR_MAX_SHARE = 0.1  # ... and at most this share (larger ones are natural structure)

# What backs a label fdr=: conformal calibration on rows whose labels the user checked (the
# rate holds by construction), or the screen's own estimate of which labels are right.
FdrCalibration = Literal["trusted", "heuristic"]


@dataclass
class ScreenReport:
    """What ``screen`` found. Index arrays refer to rows of the screened data."""

    distances: np.ndarray  # robust squared distance of every row
    pvalues: np.ndarray  # outlier p-value of every row
    outliers: np.ndarray
    label_suspects: np.ndarray
    spectral_scores: np.ndarray  # squared projection on the class's top direction (0: no labels)
    backdoor_suspects: np.ndarray
    quarantine: np.ndarray  # union of the three, sorted
    n_rows: int
    counts: dict[str, int] = field(default_factory=dict)
    # conformal p-value of "this row's label is right" (1.0 for every row without labels)
    label_pvalues: np.ndarray = field(default_factory=lambda: np.ones(0))
    # estimated probability that the row's label is wrong (0.0 without labels)
    label_wrong: np.ndarray = field(default_factory=lambda: np.zeros(0))
    reasons: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))  # "" if clean
    triggers: list[dict[str, Any]] = field(default_factory=list)  # features, label, rows
    fdr: float | None = None
    trusted_rows: int = 0  # rows whose labels the caller vouched for (calibration set)
    fdr_calibration: FdrCalibration | None = None  # None: no label fdr= was asked for

    @property
    def ok(self) -> bool:
        return self.quarantine.size == 0

    def split(self, X: Any, y: Any = None) -> tuple[Any, ...]:
        """(X_clean, X_quarantined) or, with y, (X_clean, y_clean, X_quarantined, y_quarantined).

        Works on NumPy arrays and pandas objects (rows taken by position).
        """
        n = _length(X)
        if n != self.n_rows:
            raise ValueError(f"X has {n} rows, but the screened data had {self.n_rows}")
        keep = np.ones(n, dtype=bool)
        keep[self.quarantine] = False
        take = _rows
        if y is None:
            return take(X, keep), take(X, ~keep)
        if _length(y) != n:
            raise ValueError(f"y has {_length(y)} rows, but X has {n}")
        return take(X, keep), take(y, keep), take(X, ~keep), take(y, ~keep)

    def summary(self) -> str:
        c = self.counts
        rule = f" at FDR {self.fdr:g}" if self.fdr is not None else ""
        if self.trusted_rows:
            rule += f" (calibrated on {self.trusted_rows} trusted rows)"
        return (f"{c['rows']} rows screened: {c['outliers']} outliers, {c['label_suspects']} "
                f"label-flip suspects{rule}, {c['backdoor_suspects']} backdoor suspects; "
                f"{c['quarantine']} to quarantine")

    def fdr_note(self) -> str | None:
        """One line saying whether the label fdr= is guaranteed or only estimated."""
        return fdr_statement(self.fdr, self.fdr_calibration, self.trusted_rows)

    def outlier_cutoff(self) -> float | None:
        """The smallest distance flagged as an outlier (the rule flags every row at or above
        it: p-values fall as distances grow), or None when no row is an outlier."""
        if not self.outliers.size:
            return None
        return float(self.distances[self.outliers].min())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: counts, index lists, reasons and, for ``pipeward report
        --screen``'s histogram, every row's outlier ``scores`` with the ``threshold``."""
        return {"counts": dict(self.counts), "outliers": self.outliers.tolist(),
                "label_suspects": self.label_suspects.tolist(),
                "backdoor_suspects": self.backdoor_suspects.tolist(),
                "quarantine": self.quarantine.tolist(), "fdr": self.fdr,
                "trusted_rows": self.trusted_rows, "fdr_calibration": self.fdr_calibration,
                "triggers": [dict(t, rows=[int(i) for i in t["rows"]]) for t in self.triggers],
                "reasons": {str(int(i)): str(self.reasons[i]) for i in self.quarantine},
                "scores": self.distances.astype(np.float64).tolist(),
                "threshold": self.outlier_cutoff(),
                "score_label": "robust squared Mahalanobis distance"}


@logged("pipeward.outliers", "poisoning screen",
        lambda r: f"{r.n_rows} rows, {len(r.quarantine)} quarantined")
def screen(X: Any, y: Any = None, *, estimator: Any = None, fdr: float | None = None,
           trusted: Any = None, alpha: float = 1e-4, method: str = "ledoit_wolf",
           n_neighbors: int = 10, folds: int = 5, spectral_z: float = 20.0,
           random_state: Any = 0, workers: int | None = None,
           audit: Any = None) -> ScreenReport:
    """Screen training data for poisoned rows; see the module docstring for the rules.

    ``estimator``: a scikit-learn classifier (``fit``/``predict_proba``) for the out-of-fold
    class probabilities instead of the Gaussian model, cloned and fitted once per fold on
    X's original columns; ``fdr``: flag label suspects by Benjamini-Hochberg at this false
    discovery rate on the conformal ``label_pvalues`` instead of confident learning's
    noise-rate rule; ``trusted``: rows whose labels are known to be right (a boolean mask
    or row indices): they are never label suspects, and the conformal ``label_pvalues`` of
    the other rows are calibrated on them alone, so with ``fdr=q`` the expected share of
    wrongly flagged rows is at most q whenever the trusted rows are exchangeable with the
    correctly labelled rows (a random sample of the rows, labels checked by hand);
    ``alpha``: false discovery rate of the outlier test; ``method``: the covariance estimator
    of the outlier model (default Ledoit-Wolf shrinkage, refitted without the first round's
    suspects); ``n_neighbors``: the neighbours that vote on each label; ``folds``: the
    cross-validation folds of the label model; ``spectral_z``: robust z-score above which a
    spectral-signature projection is flagged; ``audit``: a :class:`pipeward.AuditLog` that
    receives the run's counts and a digest of the quarantined indices (``data.screen``).
    """
    X, names = estimator_matrix(X)
    n = X.shape[0]
    if y is not None:
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != n:
            raise ValueError(f"y: expected {n} labels (1-d), got shape {y.shape}")
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise ValueError(f"y: contains NaN or infinity in {int((~np.isfinite(y)).sum())} "
                             "label(s); drop or fill those rows first")
        example = continuous_example(y)
        if example is not None:
            raise ValueError(
                f"y is a continuous (regression) target ({np.unique(y).size} distinct values, "
                f"e.g. {example!r}): label-flip screening needs class labels; screen without y "
                "for outliers only, or bin the target into classes first")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if fdr is not None and not (isinstance(fdr, (int, float)) and 0 < fdr < 1):
        raise ValueError(f"fdr must be None or in (0, 1), got {fdr!r}")
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise ValueError(f"folds must be an integer >= 2, got {folds!r}")
    if estimator is not None and y is None:
        raise ValueError("estimator= needs labels y: it predicts the labels out of fold")
    if trusted is not None and y is None:
        raise ValueError("trusted= needs labels y: it names rows whose labels are right")
    trusted_mask = _trusted_mask(trusted, n, fdr)
    if estimator is not None and not (hasattr(estimator, "fit")
                                      and hasattr(estimator, "predict_proba")):
        raise TypeError(f"estimator: expected a scikit-learn classifier with fit and "
                        f"predict_proba, got {type(estimator).__name__}")
    # Constant columns carry nothing to model; they would only make the covariance singular.
    varying = np.ptp(X, axis=0) > 0
    if not varying.any():
        raise ValueError("X: every column is constant; there is nothing to screen")
    Z = np.ascontiguousarray(X if varying.all() else X[:, varying], dtype=np.float64)
    columns = np.flatnonzero(varying)
    feature_names = [str(names[j]) if names is not None else int(j) for j in range(X.shape[1])]
    kw = dict(method=method, random_state=random_state, workers=workers_arg(workers))
    setup = _Setup(kw, n_neighbors, int(folds), spectral_z, fdr, estimator,
                   X if estimator is not None else None, random_state, trusted_mask)
    if y is None:
        with _single_threaded_blas():
            report = _screen_unlabelled(Z, alpha, kw)
    else:
        report = _screen_labelled(Z, y, alpha, setup)
        for t in report.triggers:
            t["features"] = [feature_names[columns[j]] for j in t["features"]]
    report.reasons = _reasons(report, y, spectral_z)
    report.trusted_rows = 0 if trusted_mask is None else int(trusted_mask.sum())
    if fdr is not None and y is not None:
        report.fdr_calibration = "heuristic" if trusted_mask is None else "trusted"
    if audit is not None:
        from ..audit.records import record_screen  # noqa: PLC0415 - audit is optional here

        record_screen(audit, n_samples=n, n_outliers=int(report.outliers.size),
                      n_label_suspects=int(report.label_suspects.size),
                      quarantined=report.quarantine.tolist(), method=method)
    return report


@dataclass
class _Setup:
    kw: dict[str, Any]
    n_neighbors: int
    folds: int
    spectral_z: float
    fdr: float | None
    estimator: Any
    X_estimator: np.ndarray | None
    random_state: Any
    trusted: np.ndarray | None = None


def _screen_unlabelled(Z: np.ndarray, alpha: float, kw: dict[str, Any]) -> ScreenReport:
    n = Z.shape[0]
    suspects = np.zeros(n, dtype=bool)
    for _round in range(2):
        det = _fit(Z[~suspects], None, kw)
        d2 = det.mahalanobis(Z).astype(np.float64)
        p = robust_tail_pvalues(np.cbrt(d2))
        suspects = benjamini_hochberg(p, alpha)
    return _report(n, d2, p, suspects, np.zeros(n, dtype=bool), np.zeros(n),
                   np.zeros(n, dtype=bool), np.ones(n), np.zeros(n), [], None)


def _screen_labelled(Z: np.ndarray, y: np.ndarray, alpha: float, s: _Setup) -> ScreenReport:
    n = Z.shape[0]
    classes, codes = np.unique(y, return_inverse=True)
    codes = codes.ravel().astype(np.int64)
    K = classes.size
    rng = np.random.default_rng(s.random_state)
    fold = lab.stratified_folds(codes, K, s.folds, rng)
    workers = s.kw["workers"]
    # Unit-variance columns: the shrinkage target and the neighbour metric treat them alike.
    count, shift, m2 = comoment_of_rows(Z, None, workers)
    scale = np.sqrt(np.diag(m2) / count)
    neighbours = None
    if n <= lab.NEIGHBOUR_ALL_ROWS:
        neighbours = lab.neighbour_probabilities((Z - shift) / scale, codes, K, s.n_neighbors,
                                                 np.arange(n))
    suspects = np.zeros(n, dtype=bool)
    triggers: list[Trigger] = []
    in_trigger = np.zeros(n, dtype=bool)
    for round_ in range(2):
        locations, factor = _class_model(Z, codes, K, ~suspects, s.kw)
        centre = locations.mean(axis=0)
        d2 = lab.whitened_min_distances(Z, centre, factor, locations, workers)
        p = robust_tail_pvalues(np.cbrt(d2))
        outliers = benjamini_hochberg(p, alpha)
        exclude = suspects | outliers
        if round_ == 0 or s.fdr is not None or _estimated_noise(evidence) >= REFIT_NOISE:
            evidence = lab.label_evidence(
                Z, codes, K, shift=shift, scale=scale, exclude=exclude, neighbours=neighbours,
                estimator=s.estimator, X_estimator=s.X_estimator, fold=fold, workers=workers,
                noise_prior=NOISE_PRIOR if s.fdr is None else 0.0, per_class=s.fdr is None)
        if round_ == 0:
            triggers = find_triggers(Z, codes, K, min_share=BACKDOOR_MIN_SHARE,
                                     max_share=BACKDOOR_MAX_SHARE,
                                     relabel=_relabeller(Z, shift, scale, codes, K, fold,
                                                         exclude, workers))
            for t in triggers:
                in_trigger[t.rows] = True
            spectral, spectral_flags = np.zeros(n), np.zeros(n, dtype=bool)
        else:  # the signature is read once, from the model fitted without the suspects
            spectral, spectral_flags = spectral_signatures(
                Z, centre, factor, codes, s.spectral_z, cluster_rows(n, BACKDOOR_MIN_SHARE),
                workers)
        backdoor = spectral_flags | in_trigger
        if s.fdr is None:
            flips = evidence.flagged | benjamini_hochberg(evidence.pvalues, DEFAULT_LABEL_FDR)
        else:
            flips = benjamini_hochberg(evidence.pvalues, s.fdr)
        flips &= ~in_trigger  # a trigger row is reported as a backdoor
        suspects = outliers | flips | backdoor | evidence.doubted
        if s.fdr is None:
            # Reported, not set aside for the refit: the rows just under 1/2 are where the
            # refitted covariance is most sensitive (measured: setting them aside moved the
            # spectral signature of a natural digits class past its threshold).
            flips |= evidence.f1_cut & ~in_trigger
    label_p = evidence.pvalues
    if s.trusted is not None:
        # Only now are the trusted rows told apart: the fits above treated them like any
        # row (their clean labels help the model), so their scores and those of the rightly
        # labelled untrusted rows stay exchangeable, which the calibration needs.
        label_p = lab.trusted_label_pvalues(evidence.probabilities, codes, s.trusted)
        if s.fdr is None:
            flips = (evidence.flagged | evidence.f1_cut
                     | label_discoveries(label_p, DEFAULT_LABEL_FDR, s.trusted))
        else:
            flips = label_discoveries(label_p, s.fdr, s.trusted)
        flips &= ~s.trusted & ~in_trigger
    trig = [{"features": list(t.features), "label": classes[t.label].item(),
             "rows": t.rows} for t in triggers]
    return _report(n, d2, p, outliers, flips, spectral, backdoor, label_p,
                   evidence.wrong, trig, s.fdr)


def _estimated_noise(evidence: lab.LabelEvidence) -> float:
    """The share of labels the confident joint places in another class.

    The second fit sets the first round's suspects aside so that the flips stop pulling the
    class model towards themselves. At low noise that pull is small, while the suspects
    set aside hold about as many clean borderline rows as flips, and the model fitted
    without them is surer against exactly those rows (measured, 10 seeds at 1% flips:
    breast cancer F1 0.756 with one fit against 0.710 with two); so below REFIT_NOISE the
    first fit's label evidence stands."""
    C = evidence.noise_counts
    return 1.0 - float(np.trace(C)) / max(float(C.sum()), 1.0)


def label_discoveries(pvalues: np.ndarray, q: float, trusted: np.ndarray | None) -> np.ndarray:
    """Benjamini-Hochberg at q over the rows under test: every row, or the untrusted ones
    (a trusted row is no hypothesis, and counting it would only lower the power)."""
    if trusted is None:
        return benjamini_hochberg(pvalues, q)
    found = np.zeros(pvalues.size, dtype=bool)
    tested = np.flatnonzero(~trusted)
    found[tested] = benjamini_hochberg(pvalues[tested], q)
    return found


def _trusted_mask(trusted: Any, n: int, fdr: float | None) -> np.ndarray | None:
    """``trusted`` (a boolean mask of n rows or row indices) as a mask, checked."""
    if trusted is None:
        return None
    t = np.asarray(trusted)
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"trusted: expected a boolean mask of {n} rows or a non-empty list of "
                         f"row indices, got an array of shape {t.shape}")
    if t.dtype == bool:
        if t.size != n:
            raise ValueError(f"trusted: a boolean mask needs one entry per row ({n}), got {t.size}")
        mask = t.copy()
    elif t.dtype.kind in "iu":
        if t.min() < -n or t.max() >= n:
            raise ValueError(f"trusted: row indices must lie in [-{n}, {n}), got "
                             f"{t.min()} .. {t.max()}")
        mask = np.zeros(n, dtype=bool)
        mask[t] = True
    else:
        raise TypeError(f"trusted: expected a boolean mask or integer row indices, got a "
                        f"{t.dtype} array")
    if not mask.any():
        raise ValueError("trusted: the mask selects no row")
    needed = math.ceil(1.0 / fdr - 1.0 - 1e-9) if fdr is not None else 0
    if mask.sum() < needed:
        # The smallest conformal p-value is 1 / (trusted + 1); BH at q needs it <= q.
        raise ValueError(f"trusted: {int(mask.sum())} trusted rows can never give a discovery "
                         f"at fdr={fdr:g} (the smallest p-value is 1 / (rows + 1)); give at "
                         f"least {needed}, and many more for power")
    return mask


def fdr_statement(fdr: float | None, calibration: FdrCalibration | None,
                  trusted_rows: int) -> str | None:
    """The line a report prints about a label fdr= (None without one)."""
    if fdr is None or calibration is None:
        return None
    if calibration == "trusted":
        return f"FDR {fdr:g} guaranteed by {trusted_rows} checked labels"
    return (f"FDR {fdr:g} estimated without checked labels: not guaranteed where classes "
            "overlap, see docs/outliers.md")


def _report(n: int, d2: np.ndarray, p: np.ndarray, outliers: np.ndarray, flips: np.ndarray,
            spectral: np.ndarray, backdoor: np.ndarray, label_p: np.ndarray,
            wrong: np.ndarray, triggers: list[dict[str, Any]], fdr: float | None) -> ScreenReport:
    quarantine = np.flatnonzero(outliers | flips | backdoor)
    counts = {"rows": n, "outliers": int(outliers.sum()), "label_suspects": int(flips.sum()),
              "backdoor_suspects": int(backdoor.sum()), "quarantine": int(quarantine.size)}
    return ScreenReport(d2, p, np.flatnonzero(outliers), np.flatnonzero(flips), spectral,
                        np.flatnonzero(backdoor), quarantine, n, counts, label_p, wrong,
                        np.full(n, "", dtype=object), triggers, fdr)


def _class_model(Z: np.ndarray, codes: np.ndarray, K: int, keep: np.ndarray,
                 kw: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The outlier model on the ``keep`` rows: the locations of the classes present and a
    factor W of the tied precision (W W^T = pinv(covariance)), as
    ``ClassConditionalDetector(method).fit(Z[keep], codes[keep])`` has them. For the moment-based
    methods the per-class comoments come from the native kernel without copying the rows."""
    if kw["method"] not in ("empirical", "oas", "ledoit_wolf"):
        with _single_threaded_blas():
            det = _fit(Z[keep], codes[keep], kw)
        return det.class_locations_, det._factor
    stats = [lab.group_comoment(Z, rows, kw["workers"])
             for rows in lab.rows_by_group(codes, K, keep)]
    stats = [st for st in stats if st[0] > 0]
    locations = np.stack([st[1] for st in stats])
    n = sum(st[0] for st in stats)
    S = sum(st[2] for st in stats) / n  # within-class residuals: maximum likelihood
    if kw["method"] == "oas":
        S = _oas(S, n)
    elif kw["method"] == "ledoit_wolf":
        by_code = np.zeros((K, Z.shape[1]))  # a class absent from keep has no kept rows
        by_code[np.unique(codes[keep])] = locations
        S = _ledoit_wolf_from_norms(
            S, lab.residual_fourth_moment(Z, codes, keep, by_code, kw["workers"]), n)
    w, V = np.linalg.eigh(0.5 * (S + S.T))
    usable = w > max(float(w.max()), 0.0) * S.shape[0] * np.finfo(np.float64).eps
    return locations, V[:, usable] / np.sqrt(w[usable])


def _relabeller(Z: np.ndarray, shift: np.ndarray, scale: np.ndarray, codes: np.ndarray,
                K: int, fold: np.ndarray, exclude: np.ndarray, workers: int | None):
    """relabel(columns): whether each row's label stays the most likely without columns."""
    def relabel(columns: np.ndarray) -> np.ndarray:
        keep = np.setdiff1d(np.arange(Z.shape[1]), columns)
        if keep.size == 0:
            return np.zeros(Z.shape[0], dtype=bool)
        P = lab.gaussian_probabilities(np.ascontiguousarray(Z[:, keep]), codes, K, fold,
                                       exclude, workers, shift=shift[keep], scale=scale[keep])
        return P.argmax(axis=1) == codes
    return relabel


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds: 'cat', not np.str_('cat'), in reasons."""
    return value.item() if isinstance(value, np.generic) else value


def _reasons(report: ScreenReport, y: np.ndarray | None, spectral_z: float) -> np.ndarray:
    """One line per quarantined row saying which evidence flagged it ("" for the others)."""
    reasons = np.full(report.n_rows, "", dtype=object)
    parts: dict[int, list[str]] = {}
    for i in report.outliers:
        parts.setdefault(int(i), []).append(
            f"outlier (robust distance p = {report.pvalues[i]:.2g})")
    for i in report.label_suspects:
        kind = "wrong label" if report.label_wrong[i] > 0.5 else "ambiguous label"
        parts.setdefault(int(i), []).append(
            f"{kind} {_plain(y[i])!r} (P(label wrong) = {report.label_wrong[i]:.2f}, "
            f"p-value {report.label_pvalues[i]:.2g})")
    in_trigger = set()
    for t in report.triggers:
        for i in t["rows"]:
            in_trigger.add(int(i))
            parts.setdefault(int(i), []).append(
                f"backdoor trigger on {t['features']} -> label {_plain(t['label'])!r}")
    for i in report.backdoor_suspects:
        if int(i) not in in_trigger:
            parts.setdefault(int(i), []).append(
                f"spectral signature (robust z > {spectral_z:g} in its class)")
    for i, p in parts.items():
        reasons[i] = "; ".join(p)
    return reasons


def _fit(Z: np.ndarray, y: np.ndarray | None, kw: dict[str, Any]) -> MahalanobisDetector:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CovarianceWarning)
        if y is None:
            return MahalanobisDetector(**kw).fit(Z)
        return ClassConditionalDetector(**kw).fit(Z, y)


def continuous_example(y: np.ndarray) -> float | None:
    """A value showing that y is continuous, or None for class labels.

    scikit-learn's ``type_of_target`` rule without scikit-learn: floats that are not all whole
    numbers are "continuous"; integers, strings, booleans and whole floats are classes.
    """
    if y.dtype.kind != "f":
        return None
    fractional = y != np.trunc(y)
    return float(y[np.argmax(fractional)]) if fractional.any() else None


def robust_tail_pvalues(u: np.ndarray) -> np.ndarray:
    """Upper-tail normal p-values of the robust z-scores of u."""
    return tail_pvalues(robust_z(u))


def tail_pvalues(z: np.ndarray) -> np.ndarray:
    """P(N(0,1) > z) for every z."""
    tail = 0.5 * chi2_sf(z * z, 1)  # P(N(0,1) > |z|)
    return np.where(z > 0, tail, 1.0 - tail)


def _length(a: Any) -> int:
    return int(a.shape[0]) if hasattr(a, "shape") else len(a)


def _rows(a: Any, mask: np.ndarray) -> Any:
    if hasattr(a, "iloc"):
        return a.iloc[np.flatnonzero(mask)]
    return np.asarray(a)[mask] if not hasattr(a, "shape") else a[mask]
