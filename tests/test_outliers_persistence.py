"""Every fitted outlier object survives pickle and skops; InputGuard saves without pickle."""

from __future__ import annotations

import copy
import pickle
import threading
import warnings

import numpy as np
import pytest

import pipeward as pw

pytestmark = pytest.mark.native


def _data(seed=0, n=400, d=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 2.0
    X[:8] += 9.0
    return X


@pytest.fixture(scope="module")
def fitted():
    return _build_fitted()


def _fitted_objects(fitted):
    X, objects = fitted
    return X, copy.deepcopy(objects)


def _build_fitted():
    X = _data()
    y = (X[:, 0] > X[:, 0].mean()).astype(np.int64)
    objects = {f"detector-{m}": pw.MahalanobisDetector(m, random_state=0).fit(X)
               for m in ("empirical", "ledoit_wolf", "oas", "mcd")}
    objects["detector-conformal"] = pw.MahalanobisDetector(
        "mcd", alpha=0.01, random_state=0).fit(X)
    streamed = pw.MahalanobisDetector("ledoit_wolf")
    for part in np.array_split(X, 3):
        streamed.partial_fit(part)
    objects["detector-streamed"] = streamed
    objects["class-conditional"] = pw.ClassConditionalDetector("oas").fit(X, y)
    guard = pw.InputGuard(objects["detector-conformal"], alpha=0.05)
    guard.check(X[:50])
    objects["guard"] = guard
    objects["stats"] = pw.CovarianceStats.from_data(X)
    return X, objects


def _same_behaviour(a, b, X):
    if isinstance(a, pw.CovarianceStats):
        assert a.count == b.count
        np.testing.assert_array_equal(a.comoment, b.comoment)
        return
    if isinstance(a, pw.InputGuard):
        assert a.counts() == b.counts()
        ra, rb = a.check(X), b.check(X)
        np.testing.assert_array_equal(ra.flags, rb.flags)
        np.testing.assert_array_equal(ra.pvalues, rb.pvalues)
        assert a.counts() == b.counts()
        return
    np.testing.assert_array_equal(a.mahalanobis(X), b.mahalanobis(X))
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    np.testing.assert_array_equal(a.pvalues(X), b.pvalues(X))
    assert a.get_params() == b.get_params()


@pytest.mark.parametrize("name", ["detector-empirical", "detector-ledoit_wolf", "detector-oas",
                                  "detector-mcd", "detector-conformal", "detector-streamed",
                                  "class-conditional", "guard", "stats"])
def test_pickle_and_skops_round_trips(name, fitted):
    sio = pytest.importorskip("skops.io")
    X, objects = _fitted_objects(fitted)
    obj = objects[name]
    _same_behaviour(obj, pickle.loads(pickle.dumps(obj)), X)
    blob = sio.dumps(obj)
    untrusted = sio.get_untrusted_types(data=blob)
    assert all(t.startswith(("pipeward.", "numpy.")) for t in untrusted), untrusted
    again = sio.loads(blob, trusted=untrusted)
    _same_behaviour(obj, again, X)
    if name == "detector-streamed":  # the stream continues after loading
        np.testing.assert_allclose(again.partial_fit(X[:20]).covariance_,
                                   obj.partial_fit(X[:20]).covariance_, rtol=1e-12)


def test_guard_is_thread_safe_after_unpickling(fitted):
    X, objects = _fitted_objects(fitted)
    guard = pickle.loads(pickle.dumps(objects["guard"]))
    assert isinstance(guard._lock, type(threading.Lock()))
    before = guard.counts()["seen"]
    threads = [threading.Thread(target=guard.check, args=(X[:10],)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert guard.counts()["seen"] == before + 80


@pytest.mark.parametrize("name", ["detector-conformal", "detector-empirical",
                                  "class-conditional", "detector-mcd"])
def test_guard_save_load(tmp_path, name, fitted):
    pd = pytest.importorskip("pandas")
    X, objects = _fitted_objects(fitted)
    det = objects[name]
    if name == "detector-mcd":  # with feature names, checked at scoring time
        det = pw.MahalanobisDetector("mcd", random_state=0).fit(
            pd.DataFrame(X, columns=list("abcd")))
    guard = pw.InputGuard(det, alpha=0.02, correction="bh")
    frame = pd.DataFrame(X, columns=list("abcd"))
    guard.check(frame if name == "detector-mcd" else X[:30])
    path = tmp_path / "guard.npz"
    guard.save(path)
    loaded = pw.InputGuard.load(path)
    assert (loaded.alpha, loaded.correction) == (0.02, "bh")
    assert loaded.counts() == guard.counts()
    batch = frame if name == "detector-mcd" else X
    a, b = guard.check(batch), loaded.check(batch)
    np.testing.assert_array_equal(a.distances, b.distances)
    np.testing.assert_array_equal(a.pvalues, b.pvalues)
    np.testing.assert_array_equal(a.flags, b.flags)
    assert type(loaded.detector) is type(det)
    with np.load(path, allow_pickle=False) as z:  # plain arrays only
        assert all(z[k].dtype.kind != "O" for k in z.files)


def test_guard_load_refuses_damaged_files(tmp_path, fitted):
    X, objects = _fitted_objects(fitted)
    path = tmp_path / "guard.npz"
    objects["guard"].save(path)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}

    def write(**changes):
        bad = tmp_path / "bad.npz"
        np.savez(bad, **{**arrays, **changes})
        return bad

    d = X.shape[1]
    cases = {
        "precision": {"detector_precision": np.eye(d + 1)},
        "NaN or infinity": {"detector_location": np.full(d, np.nan)},
        "missing": {k: v for k, v in arrays.items() if k != "detector_covariance"},
        "format": {"settings": np.array('{"format": "other"}')},
    }
    for message, change in cases.items():
        if message == "missing":
            bad = tmp_path / "bad.npz"
            np.savez(bad, **change)
        else:
            bad = write(**change)
        with pytest.raises(ValueError, match="not a valid pipeward input guard.*" + message):
            pw.InputGuard.load(bad)


def test_one_sample_and_streaming_mcd_round_trip():
    sio = pytest.importorskip("skops.io")
    X = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = pw.MahalanobisDetector("empirical").fit(X[:1])
    stream = pw.MahalanobisDetector("mcd", random_state=0)
    for part in np.array_split(X, 4):
        stream.partial_fit(part)
    for obj in (one, stream):
        blob = sio.dumps(obj)
        again = sio.loads(blob, trusted=sio.get_untrusted_types(data=blob))
        np.testing.assert_array_equal(again.predict(X), obj.predict(X))
