"""Saving and loading the served model without pickle: scikit-learn through skops, ONNX
through onnxruntime, or any Python callable handed to the API directly.

``ServedModel`` is what the service calls: ``predict(X)`` and, when the model has them,
``predict_proba(X)`` and ``classes``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ServedModel", "as_served_model", "load_model_file", "save_model_file"]

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".dill", ".sav")


@dataclass
class ServedModel:
    """A model as the service sees it: label predictions, optional class probabilities."""

    predict: Callable[[Any], Any]
    predict_proba: Callable[[Any], Any] | None = None
    classes: tuple[Any, ...] = ()
    kind: str = "callable"


def as_served_model(model: Any) -> ServedModel:
    """Wrap a fitted estimator (``predict``/``predict_proba``/``classes_``), a ``ServedModel``
    or a plain callable ``f(X) -> labels``."""
    if isinstance(model, ServedModel):
        return model
    if hasattr(model, "predict") and callable(model.predict):
        proba = getattr(model, "predict_proba", None)
        classes = tuple(np.asarray(getattr(model, "classes_", ())).tolist())
        return ServedModel(model.predict, proba if callable(proba) else None, classes, "estimator")
    if callable(model):
        return ServedModel(model)
    raise TypeError(f"model: expected a fitted estimator, a callable or an ONNX file, got "
                    f"{type(model).__name__}")


def save_model_file(model: Any, out_dir: Path) -> dict[str, Any]:
    """Write the model into ``out_dir``; returns the ``model`` block of pipeward-model.json.

    A path to an ``.onnx`` or ``.skops`` file is copied as is; a scikit-learn estimator is
    written with skops, and the types skops would not trust by default are recorded so the
    signed directory, not the loader, decides what may be built."""
    if isinstance(model, (str, os.PathLike)):
        src = Path(model)
        suffix = src.suffix.lower()
        if suffix in PICKLE_SUFFIXES:
            raise ValueError(f"{src}: pipeward never loads pickle files; save scikit-learn "
                             "models with skops (skops.io.dump) or export to ONNX")
        if suffix not in (".onnx", ".skops"):
            raise ValueError(f"{src}: expected a .skops or .onnx model file, got {suffix or 'no suffix'!r}")
        data = src.read_bytes()
        if suffix == ".skops":
            return _write_skops_bytes(data, out_dir)
        (out_dir / "model.onnx").write_bytes(data)
        return {"file": "model.onnx", "format": "onnx"}
    if not hasattr(model, "predict"):
        raise TypeError(f"model: expected a fitted scikit-learn estimator or a .skops/.onnx path, "
                        f"got {type(model).__name__} (a plain callable is served with "
                        "create_app(model, ...), not packaged)")
    import skops.io as sio  # noqa: PLC0415 - serve extra

    return _write_skops_bytes(sio.dumps(model), out_dir)


def _write_skops_bytes(data: bytes, out_dir: Path) -> dict[str, Any]:
    import skops.io as sio  # noqa: PLC0415 - serve extra

    (out_dir / "model.skops").write_bytes(data)
    trusted = sorted(sio.get_untrusted_types(data=data))
    return {"file": "model.skops", "format": "skops", "trusted_types": trusted}


def load_model_file(model_dir: Path, block: dict[str, Any]) -> ServedModel:
    """Load the model a (verified) directory names."""
    fmt, name = block.get("format"), block.get("file")
    if not isinstance(name, str) or "/" in name or name.startswith("."):
        raise ValueError(f"pipeward-model.json: bad model file name {name!r}")
    path = model_dir / name
    if fmt == "skops":
        import skops.io as sio  # noqa: PLC0415 - serve extra

        model = sio.load(path, trusted=list(block.get("trusted_types", [])))
        served = as_served_model(model)
        served.kind = "skops"
        return served
    if fmt == "onnx":
        return _onnx_model(path)
    raise ValueError(f"pipeward-model.json: unknown model format {fmt!r} (expected skops or onnx)")


def _onnx_model(path: Path) -> ServedModel:
    import onnxruntime as ort  # noqa: PLC0415 - serve extra

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # the server's workers parallelise across requests
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    n_outputs = len(session.get_outputs())

    def run(X: Any) -> list[Any]:
        return session.run(None, {input_name: np.asarray(X, dtype=np.float32)})

    def predict(X: Any) -> np.ndarray:
        return np.asarray(run(X)[0]).reshape(-1)

    def predict_proba(X: Any) -> np.ndarray:
        probs = run(X)[1]
        if isinstance(probs, list):  # a ZipMap output: one {class: p} dict per row
            keys = list(probs[0])
            return np.array([[row[k] for k in keys] for row in probs], dtype=np.float64)
        return np.asarray(probs, dtype=np.float64)

    return ServedModel(predict, predict_proba if n_outputs > 1 else None, (), "onnx")
