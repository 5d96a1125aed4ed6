"""PartitionEnsemble: keyed partitions, plurality vote, a certificate that survives real poisoning
up to its radius, and unlearning equal to a from-scratch fit."""

from __future__ import annotations

import hashlib
import hmac
import logging

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from pipeward.redteam import PartitionEnsemble
from pipeward.redteam.ensemble import _hmac_rows, partition_of_ids, partition_of_rows

KEY = b"partition key for the tests"


def _data(n=300, seed=0, classes=2):
    X, y = make_classification(n, 6, n_informative=4, n_classes=classes, n_clusters_per_class=1,
                               random_state=seed)
    return X, y


@pytest.mark.parametrize("key", [KEY, b"k" * 100, b""])
def test_row_hash_is_hmac_sha256_of_the_row_bytes(key):
    X, _ = _data(50)
    got = _hmac_rows(key, X)
    for i in (0, 17, 49):
        assert bytes(got[i]) == hmac.new(key, X[i].tobytes(), hashlib.sha256).digest()


def test_partition_follows_content_not_position_and_not_label():
    X, y = _data()
    order = np.random.default_rng(0).permutation(len(X))
    a = PartitionEnsemble(LogisticRegression(), 7, key=KEY).fit(X, y)
    b = PartitionEnsemble(LogisticRegression(), 7, key=KEY).fit(X[order], 1 - y[order])
    np.testing.assert_array_equal(a.partition_[order], b.partition_)
    assert np.bincount(a.partition_, minlength=7).min() > 20  # spread evenly
    other = partition_of_rows(X, b"another key", 7)
    assert np.mean(other == a.partition_) < 0.4
    ids = [f"user-{i % 40}" for i in range(len(X))]
    by_id = PartitionEnsemble(LogisticRegression(), 7, key=KEY).fit(X, y, ids=ids).partition_
    np.testing.assert_array_equal(by_id, partition_of_ids(ids, KEY, 7))
    assert all(len(set(by_id[[j for j in range(len(X)) if ids[j] == u]])) == 1 for u in set(ids))


def test_prediction_is_the_plurality_of_the_partition_models():
    X, y = _data(classes=3)
    ens = PartitionEnsemble(LogisticRegression(max_iter=300), 9, key=KEY, n_jobs=2).fit(X, y)
    votes = np.stack([m.predict(X) if not isinstance(m, int) else np.full(len(X), m)
                      for m in ens.estimators_], axis=1)
    counts = np.stack([(votes == c).sum(axis=1) for c in ens.classes_], axis=1)
    np.testing.assert_array_equal(ens.predict(X), ens.classes_[counts.argmax(axis=1)])
    np.testing.assert_allclose(ens.predict_proba(X), counts / 9)
    r = ens.certified_radius(X)
    top = counts.max(axis=1)
    assert np.all(2 * r <= top) and r.dtype == np.int64


@pytest.mark.parametrize("use_ids", [False, True])
def test_forget_equals_a_fit_without_those_rows(use_ids):
    X, y = _data(classes=3)
    ids = [f"u{i // 3}" for i in range(len(X))] if use_ids else None
    kw = {"ids": ids} if use_ids else {}
    ens = PartitionEnsemble(LogisticRegression(max_iter=300), 8, key=KEY).fit(X, y, **kw)
    before = [m.coef_.copy() for m in ens.estimators_]
    if use_ids:
        gone_ids = ["u3", "u50", "u51"]
        touched = ens.forget(gone_ids)
        keep = np.array([i not in gone_ids for i in ids])
    else:
        gone = np.array([5, 77, 200])
        touched = ens.forget(gone)
        keep = np.ones(len(X), dtype=bool)
        keep[gone] = False
    fresh = PartitionEnsemble(LogisticRegression(max_iter=300), 8, key=KEY).fit(
        X[keep], y[keep], **({"ids": [i for i, k in zip(ids, keep) if k]} if use_ids else {}))
    assert 1 <= len(touched) <= 3
    for p, (m, f) in enumerate(zip(ens.estimators_, fresh.estimators_)):
        np.testing.assert_array_equal(m.coef_, f.coef_)
        if p not in touched:
            np.testing.assert_array_equal(m.coef_, before[p])  # untouched partitions kept, not retrained
    np.testing.assert_array_equal(ens.predict_proba(X), fresh.predict_proba(X))


def _row_in_partition(x, target, key, k, start):
    """A copy of x, nudged in its first feature by a few ulps' worth, that hashes to `target`."""
    cand = np.repeat(x[None, :], 4000, axis=0)
    cand[:, 0] += (start + np.arange(4000)) * 1e-9
    where = np.flatnonzero(partition_of_rows(cand, key, k) == target)
    return cand[where[0]]


def test_certificate_holds_under_real_poisoning_up_to_the_radius():
    """1-NN partitions: a row inserted next to x with the other label flips that partition's
    vote at x, the strongest thing one poisoned row can do. Radius r such rows leave the
    prediction standing; r + 1 overturn it, so the certificate is also tight here."""
    X, y = _data(800)
    X_test, _ = _data(30, seed=1)
    k = 25
    ens = PartitionEnsemble(KNeighborsClassifier(1), k, key=KEY).fit(X, y)
    radius = ens.certified_radius(X_test)
    pred = ens.predict(X_test)
    votes = ens.votes(X_test)
    checked = 0
    for i in np.flatnonzero((radius >= 1) & (radius <= 6))[:5]:
        other = 1 - pred[i]
        voters = np.flatnonzero(votes[i] == np.searchsorted(ens.classes_, pred[i]))
        poison = [_row_in_partition(X_test[i], p, KEY, k, 4000 * j) for j, p in enumerate(voters[:radius[i] + 1])]
        for n_rows, holds in ((radius[i], True), (radius[i] + 1, False)):
            Xp = np.vstack([X, *poison[:n_rows]])
            yp = np.concatenate([y, np.full(n_rows, other)])
            attacked = PartitionEnsemble(KNeighborsClassifier(1), k, key=KEY).fit(Xp, yp)
            assert (attacked.predict(X_test[i:i + 1])[0] == pred[i]) == holds, (i, n_rows)
        checked += 1
    assert checked >= 3


def test_bad_inputs():
    X, y = _data(100)
    with pytest.raises(ValueError, match="not fitted"):
        PartitionEnsemble(LogisticRegression(), 3).predict(X)
    with pytest.raises(ValueError, match="n_partitions"):
        PartitionEnsemble(LogisticRegression(), 0).fit(X, y)
    with pytest.raises(TypeError, match="key"):
        PartitionEnsemble(LogisticRegression(), 3, key="text").fit(X, y)
    for n_jobs in (0, 1.5, True):
        with pytest.raises(ValueError, match="n_jobs"):
            PartitionEnsemble(LogisticRegression(), 3, n_jobs=n_jobs).fit(X, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):  # scikit-learn's words
        PartitionEnsemble(LogisticRegression(), 3).fit(X, y[:-1])
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        PartitionEnsemble(LogisticRegression(), 3).fit(bad, y)
    with pytest.raises(ValueError, match="0 sample"):
        PartitionEnsemble(LogisticRegression(), 3).fit(X[:0], y[:0])
    with pytest.raises(ValueError, match="continuous"):  # a regression target is not classes
        PartitionEnsemble(LogisticRegression(), 3).fit(X, X[:, 0])
    ens = PartitionEnsemble(LogisticRegression(), 3, key=KEY).fit(X, y)
    with pytest.raises(ValueError, match="positions"):
        ens.forget([100])
    with pytest.raises(TypeError, match="positions"):
        ens.forget(["a"])
    with pytest.raises(TypeError, match="ids"):
        PartitionEnsemble(LogisticRegression(), 3).fit(X, y, ids=[1.5] * len(X))
    assert ens.key_ == KEY and len(PartitionEnsemble(LogisticRegression(), 3).fit(X, y).key_) == 32


# check_estimator announces that it skips its array-API check (SCIPY_ARRAY_API is unset) with a warning
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_follows_scikit_learn_conventions():
    from sklearn.utils.estimator_checks import check_estimator

    # a fixed key: without one each fit draws its own, and the idempotence checks would differ
    from sklearn.tree import DecisionTreeClassifier

    # a shallow tree inside: the checks fit it hundreds of times (a logistic regression: 6x the CPU)
    base = DecisionTreeClassifier(max_depth=3, random_state=0)
    results = check_estimator(PartitionEnsemble(base, 3, key=KEY), on_fail=None)
    failed = {r["check_name"]: str(r["exception"]) for r in results if r["status"] == "failed"}
    assert failed == {} and len(results) > 40


def test_partitions_are_computed_chunk_by_chunk_with_dask():
    """A row's partition depends on its bytes and the key only, so a Dask array's chunks are
    assigned independently (map_blocks, no shuffle) and agree with the in-memory fit."""
    da = pytest.importorskip("dask.array")
    X, y = _data(1000)
    ens = PartitionEnsemble(LogisticRegression(), 7, key=KEY).fit(X, y)
    chunked = da.from_array(X, chunks=(137, X.shape[1]))
    parts = chunked.map_blocks(partition_of_rows, KEY, 7, drop_axis=1, dtype=np.int64).compute(scheduler="sync")
    np.testing.assert_array_equal(parts, ens.partition_)
    assert chunked.numblocks[0] == 8


def test_partitions_train_on_dask_workers_equal_to_a_local_fit():
    """Inside joblib's Dask backend, fit and forget train the partitions on the workers (two
    worker processes here) and give the models, votes and radii of the local fit."""
    distributed = pytest.importorskip("distributed")
    import joblib

    X, y = _data(600)
    X_test, _ = _data(200, seed=9)
    base = LogisticRegression(max_iter=300)
    local = PartitionEnsemble(base, 8, key=KEY).fit(X, y)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as client:
        workers = set(client.scheduler_info()["workers"])
        remote = PartitionEnsemble(base, 8, key=KEY)
        with joblib.parallel_config(backend="dask"), distributed.get_task_stream(client) as fit_stream:
            remote.fit(X, y)
        forget = [3, 17, 250]
        touched_local = local.forget(forget)
        with joblib.parallel_config(backend="dask"), distributed.get_task_stream(client) as forget_stream:
            touched_remote = remote.forget(forget)
    for stream, n_models in ((fit_stream, 8), (forget_stream, len(touched_remote))):
        ran = [t for t in stream.data if "_fit_partition" in str(t["key"])]
        assert ran and {t["worker"] for t in ran} <= workers, stream.data
        assert n_models >= 1
    assert touched_remote == touched_local and 1 <= len(touched_local) <= 3
    for a, b in zip(local.estimators_, remote.estimators_):  # the same fit; BLAS may round the last bit
        np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(local.votes(X_test), remote.votes(X_test))
    np.testing.assert_array_equal(local.certified_radius(X_test), remote.certified_radius(X_test))
    np.testing.assert_array_equal(local.predict(X_test), remote.predict(X_test))
