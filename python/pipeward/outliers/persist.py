"""A fitted detector as plain arrays and JSON (no pickle): what ``InputGuard.save`` writes.

Only what scoring and p-values read is kept: the parameters, the location, covariance,
precision and its factor, the threshold and its rule, the conformal calibration scores, the
class locations of a :class:`ClassConditionalDetector`, and the feature names. A GPU-fitted
detector is read back to the host to be written, and loads as a host detector. Loading checks
every array against the others, so a hand-edited file is a ``ValueError``, never a wrong score.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .._backend import is_gpu_array
from .class_conditional import ClassConditionalDetector
from .detector import METHODS, MahalanobisDetector

_KINDS = {"MahalanobisDetector": MahalanobisDetector,
          "ClassConditionalDetector": ClassConditionalDetector}
_RULES = ("contamination", "conformal", "hotelling", "beta", "chi2")


def detector_arrays(det: MahalanobisDetector, prefix: str) -> tuple[dict[str, Any],
                                                                     dict[str, np.ndarray]]:
    """(JSON-able settings, arrays named ``prefix + name``) of a fitted detector."""
    def host(a: Any) -> np.ndarray:
        return a.get() if is_gpu_array(a) else np.asarray(a)

    params = det.get_params()
    if not (params["random_state"] is None or isinstance(params["random_state"], int)):
        params["random_state"] = None  # a Generator only matters for refitting
    settings = {"kind": type(det).__name__, "params": params,
                "threshold_": float(det.threshold_), "offset_": float(det.offset_),
                "threshold_rule_": det.threshold_rule_, "n_samples_fit_": int(det.n_samples_fit_),
                "n_features_in_": int(det.n_features_in_), "lower": bool(det._lower)}
    arrays = {"location": host(det.location_), "covariance": host(det.covariance_),
              "precision": host(det.precision_), "factor": host(det._factor)}
    if hasattr(det, "calibration_scores_"):
        arrays["calibration"] = host(det.calibration_scores_)
    if hasattr(det, "feature_names_in_"):
        arrays["feature_names"] = np.asarray(det.feature_names_in_, dtype=str)
    if isinstance(det, ClassConditionalDetector):
        arrays["class_locations"] = np.asarray(det.class_locations_)
        if det.classes_.dtype.kind not in "biufU":
            raise ValueError(f"cannot save class labels of dtype {det.classes_.dtype} without "
                             "pickle; use numbers or strings")
        arrays["classes"] = det.classes_
    return settings, {prefix + k: v for k, v in arrays.items()}


def detector_from_arrays(settings: dict[str, Any], z: dict[str, np.ndarray],
                         prefix: str) -> MahalanobisDetector:
    """The detector :func:`detector_arrays` described, every array checked."""
    kind = _KINDS.get(settings.get("kind"))
    if kind is None:
        raise ValueError(f"unknown detector kind {settings.get('kind')!r}")
    det = kind(**settings["params"])
    det._check_params()
    if det.method not in METHODS:
        raise ValueError(f"method {det.method!r}")
    d = settings["n_features_in_"]
    if not (isinstance(d, int) and d >= 1):
        raise ValueError(f"n_features_in_ must be a positive integer, got {d!r}")

    def array(name: str, shape: tuple[int | None, ...]) -> np.ndarray:
        a = z[prefix + name]
        if a.dtype.kind != "f" or a.ndim != len(shape) or any(
                want is not None and got != want for got, want in zip(a.shape, shape)):
            raise ValueError(f"{name}: expected a float array of shape "
                             f"{tuple('*' if s is None else s for s in shape)}, got "
                             f"{a.dtype} {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"{name}: contains NaN or infinity")
        return np.ascontiguousarray(a, dtype=np.float64)

    det.location_ = array("location", (d,))
    det.covariance_ = array("covariance", (d, d))
    det.precision_ = array("precision", (d, d))
    det._factor = array("factor", (d, None))
    det._lower = bool(settings["lower"])
    if det._lower and det._factor.shape != (d, d):
        raise ValueError("factor: a triangular factor must be square")
    det.n_features_in_ = d
    det.n_samples_fit_ = int(settings["n_samples_fit_"])
    det.threshold_ = float(settings["threshold_"])
    det.offset_ = float(settings["offset_"])
    det.threshold_rule_ = settings["threshold_rule_"]
    if det.threshold_rule_ not in _RULES:
        raise ValueError(f"threshold_rule_ {det.threshold_rule_!r}")
    if det.threshold_rule_ == "conformal":
        det.calibration_scores_ = np.sort(array("calibration", (None,)))
    if prefix + "feature_names" in z:
        names = z[prefix + "feature_names"]
        if names.shape != (d,):
            raise ValueError(f"feature_names: expected {d} names, got shape {names.shape}")
        det.feature_names_in_ = names.astype(object)
    if isinstance(det, ClassConditionalDetector):
        det.class_locations_ = array("class_locations", (None, d))
        det.classes_ = z[prefix + "classes"]
        if det.classes_.shape != (det.class_locations_.shape[0],):
            raise ValueError("classes: expected one label per class location")
    return det


def dumps_settings(settings: dict[str, Any]) -> np.ndarray:
    return np.array(json.dumps(settings))


def loads_settings(a: np.ndarray) -> dict[str, Any]:
    settings = json.loads(str(a[()]))
    if not isinstance(settings, dict):
        raise ValueError("settings: expected a JSON object")
    return settings
