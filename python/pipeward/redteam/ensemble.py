"""A partitioned ensemble that certifies its predictions against poisoning and forgets exactly.

Deep Partition Aggregation (Levine & Feizi, ICLR 2021): each training row goes to one of k
partitions by a keyed hash (HMAC-SHA256) of its feature bytes, or of a user id, never by its
position, so an inserted, deleted or relabelled row touches one partition and moves at most
one of the k votes. Prediction is the plurality vote (ties to the smaller label) and the
certified radius is how many such rows provably cannot change it.

The same layout gives exact unlearning (SISA, Bourtoule et al. 2021): :meth:`forget` retrains
only the partitions that held the forgotten rows, on their remaining rows in their original
order, which is what a fit without those rows trains.

It is a scikit-learn estimator (``get_params``, ``clone``, ``check_estimator``), so this module
needs scikit-learn; ``pipeward.redteam`` imports it only when ``PartitionEnsemble`` is used.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from .._sha256_batch import sha256_batch
from .._validate import positive_int
from .vote import count_votes

__all__ = ["PartitionEnsemble", "partition_of_ids", "partition_of_rows"]


def _hmac_rows(key: bytes, rows: np.ndarray) -> np.ndarray:
    """HMAC-SHA256 of each row's bytes, as ``(n, 32)`` uint8 (RFC 2104 over ``sha256_batch``)."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    block = np.frombuffer(key.ljust(64, b"\0"), dtype=np.uint8)
    raw = np.ascontiguousarray(rows).view(np.uint8).reshape(rows.shape[0], -1)
    n = raw.shape[0]
    inner = sha256_batch(np.hstack([np.broadcast_to(block ^ 0x36, (n, 64)), raw]))
    return sha256_batch(np.hstack([np.broadcast_to(block ^ 0x5C, (n, 64)), inner]))


def _bucket(digests: np.ndarray, k: int) -> np.ndarray:
    first8 = np.ascontiguousarray(digests[:, :8]).view(">u8").ravel()
    return (first8 % np.uint64(k)).astype(np.int64)


def partition_of_rows(X: np.ndarray, key: bytes, k: int) -> np.ndarray:
    """Partition of each row: the first 8 bytes of HMAC-SHA256(key, row bytes), big-endian, mod k."""
    if X.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    return _bucket(_hmac_rows(key, X), k)


def _id_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value)).encode("ascii")
    raise TypeError(f"ids: expected str, bytes or int ids, got {type(value).__name__}")


def partition_of_ids(ids: Sequence[Any], key: bytes, k: int) -> np.ndarray:
    """Partition of each id (str as UTF-8, int as its decimal text, bytes as is), as for rows."""
    digests = np.array([np.frombuffer(hmac.new(key, _id_bytes(i), hashlib.sha256).digest(), np.uint8)
                        for i in ids], dtype=np.uint8).reshape(len(ids), 32)
    return _bucket(digests, k)


def _fit_partition(base_estimator: Any, X: np.ndarray, y: np.ndarray, y_index: np.ndarray) -> Any:
    """One partition's model; a partition with one class (or none) votes it constantly."""
    labels = np.unique(y_index)
    if labels.size <= 1:  # nothing to learn: vote the one class seen (or the smallest)
        return int(labels[0]) if labels.size else 0
    return clone(base_estimator).fit(X, y)


class PartitionEnsemble(ClassifierMixin, BaseEstimator):
    """``k`` copies of ``base_estimator``, one per hashed partition of the training rows.

    ``key`` (bytes) keys the partition hash; without one a random key is drawn at fit (kept
    in ``key_``: an attacker who knows it can aim rows at chosen partitions, which the
    certificate already allows for). A partition with no rows, or with one class only,
    votes that class constantly (the smallest class when empty).

    The partitions are trained through joblib, as scikit-learn's ensembles are: ``n_jobs``
    threads by default (``None``: one, unless a ``joblib.parallel_config`` says otherwise), and
    on Dask workers inside ``with joblib.parallel_config(backend="dask"):`` (a
    ``distributed.Client`` connected), for :meth:`fit` and :meth:`forget` alike. Each task
    receives its partition's rows only; the models are the same wherever they were trained.
    """

    def __init__(self, base_estimator: Any, n_partitions: int = 50, *, key: bytes | None = None,
                 n_jobs: int | None = None) -> None:
        self.base_estimator = base_estimator
        self.n_partitions = n_partitions
        self.key = key
        self.n_jobs = n_jobs

    # --- training -----------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, *, ids: Sequence[Any] | None = None) -> PartitionEnsemble:
        k = positive_int(self.n_partitions, "n_partitions")
        if self.n_jobs is not None and (not isinstance(self.n_jobs, (int, np.integer))
                                        or isinstance(self.n_jobs, bool) or self.n_jobs == 0):
            raise ValueError(f"n_jobs: expected None or a non-zero int (-1: every CPU), got {self.n_jobs!r}")
        if self.key is not None and not isinstance(self.key, bytes):
            raise TypeError(f"key: expected bytes, got {type(self.key).__name__}")
        # scikit-learn's input checks and messages; integers become float64 as in every
        # scikit-learn estimator (a row's partition is the hash of its float bytes)
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32))
        check_classification_targets(y)
        self.key_ = self.key if self.key is not None else os.urandom(32)
        self.classes_, self._y_index = np.unique(y, return_inverse=True)
        if ids is not None:
            if len(ids) != X.shape[0]:
                raise ValueError(f"ids: expected {X.shape[0]} ids (one per row of X), got {len(ids)}")
            self.ids_ = list(ids)
            self.partition_ = partition_of_ids(self.ids_, self.key_, k)
        else:
            self.ids_ = None
            self.partition_ = partition_of_rows(X, self.key_, k)
        self._X, self._y = X, y
        self._kept = np.ones(X.shape[0], dtype=bool)
        self.estimators_: list[Any] = [None] * k
        self._train(range(k))
        return self

    def _train(self, parts: Any) -> None:
        # Each task gets its partition's rows only, so a Dask backend ships every row once.
        parts = list(parts)
        rows = [np.flatnonzero((self.partition_ == p) & self._kept) for p in parts]
        tasks = (delayed(_fit_partition)(self.base_estimator, self._X[r], self._y[r], self._y_index[r])
                 for r in rows)
        models = Parallel(n_jobs=self.n_jobs, prefer="threads")(tasks)
        for p, m in zip(parts, models):
            self.estimators_[p] = m

    def forget(self, rows: Any) -> list[int]:
        """Remove training rows (positions in the data given to ``fit``, or the ids given
        there) and retrain only the partitions that held them; returns those partitions."""
        self._check_fitted()
        if self.ids_ is not None:
            wanted = {_id_bytes(i) for i in np.atleast_1d(np.asarray(rows, dtype=object))}
            positions = np.array([j for j, i in enumerate(self.ids_) if _id_bytes(i) in wanted], dtype=np.int64)
            if len(wanted) and positions.size == 0:
                raise ValueError("forget: none of these ids were given to fit")
        else:
            positions = np.atleast_1d(np.asarray(rows))
            if positions.dtype.kind not in "iu":
                raise TypeError(f"forget: expected row positions (integers), got {positions.dtype}")
            if positions.size and (positions.min() < 0 or positions.max() >= self._kept.size):
                raise ValueError(f"forget: positions must be in [0, {self._kept.size}), got "
                                 f"{positions.min()}..{positions.max()}")
        positions = positions[self._kept[positions]]  # forgetting twice changes nothing
        self._kept[positions] = False
        touched = sorted(set(self.partition_[positions].tolist()))
        self._train(touched)
        return touched

    # --- prediction ---------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "estimators_"):
            raise NotFittedError("PartitionEnsemble is not fitted; call fit(X, y) first")

    def votes(self, X: Any) -> np.ndarray:
        """``(n, k)`` class indices: what each partition's model predicts for each row."""
        self._check_fitted()
        X = validate_data(self, X, dtype=(np.float64, np.float32), reset=False)
        c = len(self.classes_)
        dtype = np.uint8 if c <= 256 else np.int32
        out = np.empty((len(self.estimators_), X.shape[0]), dtype=dtype)
        for p, m in enumerate(self.estimators_):
            if isinstance(m, int):
                out[p] = m
            else:
                out[p] = np.searchsorted(self.classes_, m.predict(X))
        return np.ascontiguousarray(out.T)

    def vote(self, X: Any) -> Any:
        """The :class:`~pipeward.redteam.vote.VoteCount` of ``X``: counts, prediction, radius."""
        return count_votes(self.votes(X), len(self.classes_))

    def predict(self, X: Any) -> np.ndarray:
        prediction = self.vote(X).prediction  # checks the fit before classes_ is read
        return self.classes_[prediction]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Vote shares, columns in ``classes_`` order."""
        return self.vote(X).counts / len(self.estimators_)

    def certified_radius(self, X: Any) -> np.ndarray:
        """Per row: the number of poisoned training rows (inserted, deleted or relabelled)
        that provably cannot change its prediction."""
        return self.vote(X).radius
