"""The model's input schema: feature names, kinds, observed ranges, allowed categories, classes.

Written at packaging time into ``pipeward-model.json`` (signed with the rest of the model
directory) and read by the service to validate every request before the model sees it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Feature", "ModelSchema"]


@dataclass(frozen=True)
class Feature:
    """One input column: ``kind`` is ``"numeric"`` (with its observed ``[low, high]``) or
    ``"categorical"`` (with its allowed ``categories``)."""

    name: str
    kind: str
    dtype: str
    low: float | None = None
    high: float | None = None
    categories: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "kind": self.kind, "dtype": self.dtype}
        if self.kind == "numeric":
            d.update(low=self.low, high=self.high)
        else:
            d["categories"] = list(self.categories)
        return d

    @classmethod
    def from_dict(cls, d: Any) -> Feature:
        if not isinstance(d, dict) or d.get("kind") not in ("numeric", "categorical"):
            raise ValueError(f"pipeward-model.json: a feature must be an object with kind "
                             f"numeric or categorical, got {d!r:.80}")
        if d["kind"] == "numeric":
            return cls(str(d["name"]), "numeric", str(d["dtype"]), float(d["low"]), float(d["high"]))
        return cls(str(d["name"]), "categorical", str(d["dtype"]),
                   categories=tuple(str(c) for c in d["categories"]))


@dataclass(frozen=True)
class ModelSchema:
    """What the model accepts and answers. ``classes`` is empty for a regressor."""

    features: tuple[Feature, ...]
    classes: tuple[Any, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def numeric_index(self) -> np.ndarray:
        return np.array([i for i, f in enumerate(self.features) if f.kind == "numeric"], dtype=np.intp)

    def numeric_scale(self) -> tuple[np.ndarray, np.ndarray]:
        """(low, width) of the numeric features' training ranges (width >= a tiny positive)."""
        num = [f for f in self.features if f.kind == "numeric"]
        low = np.array([f.low for f in num], dtype=np.float64)
        high = np.array([f.high for f in num], dtype=np.float64)
        return low, np.maximum(high - low, np.maximum(np.abs(high), 1.0) * 1e-9)

    @property
    def categorical_index(self) -> np.ndarray:
        return np.array([i for i, f in enumerate(self.features) if f.kind == "categorical"], dtype=np.intp)

    @property
    def guard_width(self) -> int:
        """Columns of :meth:`guard_matrix`: the numeric features, then one per category of
        each categorical feature except its first."""
        return sum(1 if f.kind == "numeric" else max(len(f.categories) - 1, 0) for f in self.features)

    def guard_matrix(self, numeric: np.ndarray, categorical: list[list[Any]]) -> np.ndarray:
        """What the out-of-distribution guard scores: the numeric columns (float64, rows x
        numeric features), then each categorical feature one-hot encoded (``categorical``
        holds one list of values per categorical feature, in schema order). The first
        category is the all-zero code, so a feature's columns are not collinear (the
        one-hot columns of a feature sum to one). Categories are nominal: an ordered one
        (sizes, grades) is better given to the model and the schema as a number."""
        cats = [f for f in self.features if f.kind == "categorical"]
        if len(categorical) != len(cats):
            raise ValueError(f"guard_matrix: expected {len(cats)} categorical columns, got {len(categorical)}")
        blocks = [np.asarray(numeric, dtype=np.float64).reshape(len(numeric), -1)]
        n = blocks[0].shape[0]
        for feature, values in zip(cats, categorical):
            code = {c: k - 1 for k, c in enumerate(feature.categories)}
            block = np.zeros((n, max(len(feature.categories) - 1, 0)), dtype=np.float64)
            for i, v in enumerate(values):
                k = code.get(str(v), -1)
                if k >= 0:
                    block[i, k] = 1.0
            blocks.append(block)
        return np.hstack(blocks) if len(blocks) > 1 else blocks[0]

    def training_guard_matrix(self, X: Any) -> np.ndarray:
        """:meth:`guard_matrix` of a training table (a numeric array or a DataFrame)."""
        if hasattr(X, "iloc"):
            numeric = X.iloc[:, self.numeric_index].to_numpy(dtype=np.float64)
            categorical = [X.iloc[:, j].astype(str).tolist() for j in self.categorical_index]
            return self.guard_matrix(numeric, categorical)
        return np.asarray(X, dtype=np.float64)[:, self.numeric_index]

    @property
    def all_numeric(self) -> bool:
        return all(f.kind == "numeric" for f in self.features)

    @classmethod
    def from_training(cls, X: Any, y: Any = None, classes: Any = None,
                      feature_names: list[str] | None = None) -> ModelSchema:
        """The schema of the training table X (a 2-d numeric array, with ``feature_names`` or
        x0, x1, ...; or a pandas DataFrame whose object/category/bool columns are categorical)."""
        if hasattr(X, "columns") and hasattr(X, "dtypes"):
            features = []
            for name in X.columns:
                col = X[name]
                kind = col.dtype.kind
                if kind in "biuf" and col.dtype != bool:
                    values = col.to_numpy(dtype=np.float64)
                    features.append(_numeric(str(name), str(col.dtype), values))
                else:
                    cats = sorted({str(v) for v in col.dropna().unique()})
                    features.append(Feature(str(name), "categorical", str(col.dtype), categories=tuple(cats)))
        else:
            arr = np.asarray(X)
            if arr.ndim != 2:
                raise ValueError(f"X_train: expected a 2-d array, got shape {arr.shape}")
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"X_train: expected a numeric array (or a DataFrame for "
                                f"categorical columns), got dtype {arr.dtype}")
            names = list(feature_names) if feature_names is not None else [f"x{j}" for j in range(arr.shape[1])]
            if len(names) != arr.shape[1] or len(set(names)) != len(names):
                raise ValueError(f"feature_names: expected {arr.shape[1]} distinct names, got {names!r:.200}")
            features = [_numeric(str(names[j]), str(arr.dtype), arr[:, j].astype(np.float64))
                        for j in range(arr.shape[1])]
        if classes is None and y is not None:
            classes = np.unique(np.asarray(y))
        return cls(tuple(features), tuple(_plain(c) for c in (classes if classes is not None else ())))

    def to_dict(self) -> dict[str, Any]:
        return {"features": [f.to_dict() for f in self.features], "classes": list(self.classes),
                **self.extra}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSchema:
        if not isinstance(d.get("features"), list) or not d["features"]:
            raise ValueError("pipeward-model.json: expected a non-empty 'features' list")
        extra = {k: v for k, v in d.items() if k not in ("features", "classes")}
        return cls(tuple(Feature.from_dict(f) for f in d["features"]),
                   tuple(d.get("classes") or ()), extra)


def _numeric(name: str, dtype: str, values: np.ndarray) -> Feature:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ValueError(f"X_train: feature {name!r} has no finite value")
    return Feature(name, "numeric", dtype, float(finite.min()), float(finite.max()))


def _plain(value: Any) -> Any:
    """A class label as a JSON value (NumPy scalars become Python ones)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"class labels must be finite, got {value!r}")
    if not isinstance(value, (str, int, float, bool)):
        raise TypeError(f"class labels must be str, int, float or bool, got {type(value).__name__}")
    return value
