"""The signed model directory: ``package`` writes it, ``load_model_dir`` verifies then loads it.

Layout::

    model.skops | model.onnx   the model (never pickle)
    pipeward-model.json        schema (features, dtypes, ranges, categories, classes), files
    guard.npz                  the fitted out-of-distribution guard
    drift.npz                  the drift reference profile (DriftMonitor.save)
    background.npy             up to 100 training rows (numeric features), the reference
                               of /v1/explain's Shapley values
    manifest.json              SHA-256 of every file above, Merkle root, Ed25519 signature
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import signing
from ..drift import DriftMonitor
from ..manifest import Manifest
from ..trust import TrustStore
from .extraction import baseline_w
from .guard import ServeGuard
from .model_file import ServedModel, load_model_file, save_model_file
from .schema import ModelSchema

__all__ = ["ModelBundle", "ModelDirError", "fit_training_profiles", "load_model_dir", "package", "verify_model_dir"]

FORMAT = "pipeward-model"
METADATA = "pipeward-model.json"
MANIFEST = "manifest.json"
GUARD = "guard.npz"
DRIFT = "drift.npz"
BACKGROUND = "background.npy"
BACKGROUND_ROWS = 100  # shap's default background size; cost grows with it


class ModelDirError(ValueError):
    """The model directory does not verify; ``path`` names the offending file."""

    def __init__(self, path: str | os.PathLike[str], reason: str):
        self.path = os.fspath(path)
        super().__init__(f"{self.path}: {reason}")


@dataclass
class ModelBundle:
    """A verified, loaded model directory (or an in-memory model given to ``create_app``)."""

    model: ServedModel
    schema: ModelSchema
    guard: ServeGuard | None = None
    drift: DriftMonitor | None = None
    manifest_root: str | None = None
    metadata: dict[str, Any] | None = None
    background: np.ndarray | None = None


def training_background(X_train: Any, schema: ModelSchema, rows: int = BACKGROUND_ROWS) -> np.ndarray:
    """A fixed (seeded) sample of training rows, numeric features only: the background of
    the service's explanations."""
    idx = schema.numeric_index
    pick = np.arange(len(X_train))
    if pick.size > rows:
        pick = np.sort(np.random.default_rng(0).choice(pick.size, rows, replace=False))
    if hasattr(X_train, "iloc"):
        return np.ascontiguousarray(X_train.iloc[pick, idx].to_numpy(dtype=np.float64))
    return np.ascontiguousarray(np.asarray(X_train, dtype=np.float64)[np.ix_(pick, idx)])


def package(model: Any, X_train: Any, out_dir: str | os.PathLike[str], *,
            private_key: signing.KeyLike, y: Any = None,
            feature_names: list[str] | None = None) -> Manifest:
    """Write a signed model directory for ``pipeward serve``; returns its signed manifest.

    ``model`` is a fitted scikit-learn estimator (saved with skops) or a path to a
    ``.skops``/``.onnx`` file. ``X_train`` (array or DataFrame) gives the schema, the guard
    and the drift reference (``feature_names`` name an array's columns); ``y`` (or the
    model's ``classes_``) the output classes.
    """
    key = signing.load_private_key(private_key)  # fail before writing anything
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: the output directory exists and is not empty")
    out.mkdir(parents=True, exist_ok=True)
    classes = getattr(model, "classes_", None)
    schema = ModelSchema.from_training(X_train, y, classes, feature_names)
    guard, drift, fitted = fit_training_profiles(X_train, schema)
    block = save_model_file(model, out)
    files = {"model": block}
    if guard is not None:
        guard.save(out / GUARD)
        files["guard"] = GUARD
    if drift is not None:
        drift.save(out / DRIFT)
        files["drift"] = DRIFT
    np.save(out / BACKGROUND, training_background(X_train, schema), allow_pickle=False)
    files["background"] = BACKGROUND
    meta = {"format": FORMAT, "version": 1, **files, "schema": schema.to_dict(), **fitted}
    (out / METADATA).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    manifest = Manifest.build(out, exclude=[MANIFEST], metadata={"kind": FORMAT})
    manifest.sign(key)
    manifest.save(out / MANIFEST)
    return manifest


def fit_training_profiles(X_train: Any, schema: ModelSchema, *, drift_workers: int | None = None
                          ) -> tuple[ServeGuard | None, DriftMonitor | None, dict[str, Any]]:
    """What the service learns from the training table: the out-of-distribution guard (on
    the numeric columns and the one-hot categorical ones, :meth:`ModelSchema.guard_matrix`),
    the drift reference (numeric columns) and the metadata (``n_train``, the extraction
    detector's baseline)."""
    guard_X = schema.training_guard_matrix(X_train)
    numeric = guard_X[:, :schema.numeric_index.size]
    guard = None
    if guard_X.shape[1] and guard_X.shape[0] > guard_X.shape[1] + 1:
        # One-hot columns are binary: MCD's half-sample can leave a rare category constant
        # (a singular fit), while Ledoit-Wolf shrinkage stays full rank.
        guard = ServeGuard.fit(guard_X, method="mcd" if schema.all_numeric else "ledoit_wolf")
    drift = None
    if numeric.shape[1]:
        drift = DriftMonitor(numeric, feature_names=[schema.names[j] for j in schema.numeric_index],
                             **({"workers": drift_workers} if drift_workers is not None else {}))
    meta: dict[str, Any] = {"n_train": int(guard_X.shape[0])}
    if numeric.shape[1] and numeric.shape[0] >= 20:
        low, width = schema.numeric_scale()
        meta["extraction_baseline_w"] = round(baseline_w(numeric, low, width), 6)
    return guard, drift, meta


def verify_model_dir(path: str | os.PathLike[str], public_key: signing.KeyLike | TrustStore, *,
                     role: str | None = None) -> tuple[str, dict[str, Any]]:
    """Check the directory's manifest (signature by ``public_key``, every file's digest, no
    extra file) and read its description; returns ``(manifest root, description)``. Raises
    :class:`ModelDirError` naming the file that fails. Loads no model.

    ``public_key`` may be a :class:`~pipeward.TrustStore`: the signer must then be a trusted key,
    valid now, not revoked, and holding ``role`` when one is given; the error says which of
    these failed."""
    root = Path(path)
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise ModelDirError(manifest_path, "no manifest: package the model with `pipeward package`")
    try:
        manifest = Manifest.load(manifest_path)
    except ValueError as exc:
        raise ModelDirError(manifest_path, f"unreadable manifest ({exc})") from None
    _check_signer(manifest, manifest_path, public_key, role)
    check = manifest.verify(root)
    if not check.ok:
        bad = [*check.modified, *check.added, *check.removed,
               *(new for _, new in check.renamed), *(p for p, _ in check.errors)]
        raise ModelDirError(root / str(bad[0]) if bad else root,
                            "does not match the signed manifest (modified, added or removed)")
    meta_path = root / METADATA
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}")
    except ValueError as exc:
        raise ModelDirError(meta_path, f"not a pipeward model description ({exc})") from None
    return manifest.root, meta


def _check_signer(manifest: Manifest, manifest_path: Path, key: signing.KeyLike | TrustStore,
                  role: str | None) -> None:
    if isinstance(key, TrustStore):
        check = manifest.verify_signature(key, role=role)
        if not check:
            raise ModelDirError(manifest_path, f"the signature is not trusted: {check.reason}")
        return
    if role is not None:
        raise TypeError(f"role={role!r} needs a TrustStore to check roles against, "
                        f"got a single public key ({type(key).__name__})")
    if not manifest.verify_signature(key):
        raise ModelDirError(manifest_path, "the signature does not verify with the given public key")


def load_model_dir(path: str | os.PathLike[str], public_key: signing.KeyLike | TrustStore, *,
                   role: str | None = None) -> ModelBundle:
    """Verify the directory (:func:`verify_model_dir`, with a public key or a trust store and
    ``role``) and load it."""
    root = Path(path)
    manifest_root, meta = verify_model_dir(root, public_key, role=role)
    meta_path = root / METADATA
    try:
        schema = ModelSchema.from_dict(meta["schema"])
        model = load_model_file(root, meta["model"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelDirError(meta_path, f"not a usable pipeward model description ({exc})") from None
    if not model.classes:
        model.classes = schema.classes
    guard = ServeGuard.load(root / meta["guard"]) if meta.get("guard") else None
    if guard is not None and guard.n_features != schema.guard_width:
        raise ModelDirError(root / meta["guard"], f"the guard scores {guard.n_features} columns but "
                            f"the schema encodes {schema.guard_width} (package the model again)")
    # One thread: the service's drift checks run beside the handlers, not instead of them.
    drift = DriftMonitor.load(root / meta["drift"], workers=1) if meta.get("drift") else None
    background = np.load(root / meta["background"], allow_pickle=False) if meta.get("background") else None
    return ModelBundle(model, schema, guard, drift, manifest_root, meta, background)
