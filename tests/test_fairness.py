"""pw.fairness.assess against fairlearn: every number, on many random inputs, to 1e-12."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pipeward as pw
from pipeward.accountability.fairness import GroupCounts, assessment_from_counts, count_groups

fm = pytest.importorskip("fairlearn.metrics")
skm = pytest.importorskip("sklearn.metrics")

DISPARITY_PEERS = {
    "demographic_parity_difference": fm.demographic_parity_difference,
    "demographic_parity_ratio": fm.demographic_parity_ratio,
    "equalized_odds_difference": fm.equalized_odds_difference,
    "equalized_odds_ratio": fm.equalized_odds_ratio,
    "equal_opportunity_difference": fm.equal_opportunity_difference,
    "equal_opportunity_ratio": fm.equal_opportunity_ratio,
}
RATES = {"selection_rate": fm.selection_rate, "true_positive_rate": fm.true_positive_rate,
         "false_positive_rate": fm.false_positive_rate, "accuracy": skm.accuracy_score}


@st.composite
def labelled(draw):
    n = draw(st.integers(4, 300))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    p_true, p_pred = draw(st.floats(0.05, 0.95)), draw(st.floats(0.05, 0.95))
    y_true = (rng.random(n) < p_true).astype(np.int64)
    y_pred = np.where(rng.random(n) < draw(st.floats(0, 1)), y_true, rng.random(n) < p_pred).astype(np.int64)
    n_features = draw(st.integers(1, 3))
    levels = [draw(st.integers(1, 4)) for _ in range(n_features)]
    sf = pd.DataFrame({f"s{i}": rng.choice(np.array(list("abcd"))[:k], n) for i, k in enumerate(levels)})
    return y_true, y_pred, sf


def _close(a, b):
    if np.isnan(b):
        return np.isnan(a)
    return abs(a - b) <= 1e-12


@settings(deadline=None, max_examples=30)
@given(labelled(), st.sampled_from(["between_groups", "to_overall"]))
def test_every_disparity_equals_fairlearn(data, method):
    y_true, y_pred, sf = data
    sens = sf if sf.shape[1] > 1 else sf["s0"]
    ours = pw.fairness.assess(y_true, y_pred, sens, method=method, n_boot=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fairlearn/pandas on all-NaN groups
        for name, peer in DISPARITY_PEERS.items():
            theirs = peer(y_true, y_pred, sensitive_features=sens, method=method)
            assert _close(getattr(ours, name), float(theirs)), (name, getattr(ours, name), theirs)


@settings(deadline=None, max_examples=20)
@given(labelled())
def test_by_group_equals_metricframe_including_absent_intersections(data):
    y_true, y_pred, sf = data
    ours = pw.fairness.assess(y_true, y_pred, sf, n_boot=0)
    mf = fm.MetricFrame(metrics=RATES, y_true=y_true, y_pred=y_pred, sensitive_features=sf)
    got = ours.by_group[list(RATES)]
    assert list(got.index) == list(mf.by_group.index)
    np.testing.assert_allclose(got.to_numpy(float), mf.by_group.to_numpy(float), rtol=0, atol=1e-12)
    for name in RATES:
        assert abs(ours.overall[name] - mf.overall[name]) <= 1e-12


def test_calibration_equals_metricframe_with_brier_score():
    rng = np.random.default_rng(5)
    n = 2000
    score = rng.random(n)
    y_true = (rng.random(n) < score ** 1.3).astype(int)
    y_pred = (score > 0.5).astype(int)
    group = rng.choice(["x", "y", "z"], n)
    ours = pw.fairness.assess(y_true, y_pred, group, y_score=score, n_boot=0)
    mf = fm.MetricFrame(metrics={"brier_score": skm.brier_score_loss,
                                 "mean_score": lambda t, s: float(np.mean(s)),
                                 "calibration_gap": lambda t, s: float(np.mean(s) - np.mean(t))},
                        y_true=y_true, y_pred=score, sensitive_features=group)
    np.testing.assert_allclose(ours.by_group[["brier_score", "mean_score", "calibration_gap"]].to_numpy(float),
                               mf.by_group.to_numpy(float), rtol=0, atol=1e-12)
    assert abs(ours.overall["brier_score"] - skm.brier_score_loss(y_true, score)) <= 1e-12


def test_bootstrap_intervals_agree_with_fairlearns_within_monte_carlo_error():
    """Same bootstrap (rows resampled with replacement), drawn differently: multinomial cell
    counts here, row indices there; with many draws the percentiles must agree closely."""
    rng = np.random.default_rng(11)
    n = 600
    group = rng.choice(["a", "b"], n, p=[0.4, 0.6])
    y_true = rng.integers(0, 2, n)
    y_pred = np.where(rng.random(n) < np.where(group == "a", 0.6, 0.8), y_true, 1 - y_true)
    ours = pw.fairness.assess(y_true, y_pred, group, n_boot=2000, random_state=1)
    mf = fm.MetricFrame(metrics={"selection_rate": fm.selection_rate}, y_true=y_true, y_pred=y_pred,
                        sensitive_features=group, n_boot=200, ci_quantiles=[0.025, 0.975], random_state=2)
    lo, hi = (q.to_numpy() for q in mf.by_group_ci)
    ours_iv = ours.intervals["selection_rate"]
    np.testing.assert_allclose(ours_iv[:, 0], lo[:, 0], atol=0.02)
    np.testing.assert_allclose(ours_iv[:, 1], hi[:, 0], atol=0.02)
    # the interval holds the estimate and has the binomial width, 2 * 1.96 * sqrt(p (1-p) / n_g)
    p = ours.metrics["selection_rate"]
    width = 2 * 1.96 * np.sqrt(p * (1 - p) / ours.metrics["count"])
    np.testing.assert_allclose(ours_iv[:, 1] - ours_iv[:, 0], width, rtol=0.1)
    d_lo, d_hi = ours.intervals["demographic_parity_difference"]
    assert d_lo <= ours.demographic_parity_difference <= d_hi


def test_bootstrap_is_reproducible_and_can_be_turned_off():
    rng = np.random.default_rng(0)
    y, p, g = rng.integers(0, 2, 200), rng.integers(0, 2, 200), rng.choice(["u", "v"], 200)
    a = pw.fairness.assess(y, p, g, random_state=3)
    b = pw.fairness.assess(y, p, g, random_state=3)
    np.testing.assert_array_equal(a.intervals["accuracy"], b.intervals["accuracy"])
    assert pw.fairness.assess(y, p, g, n_boot=0).intervals == {}


@settings(deadline=None, max_examples=30)
@given(labelled(), st.integers(1, 5))
def test_counts_of_partitions_merge_to_the_counts_of_the_whole(data, parts):
    y_true, y_pred, sf = data
    whole = count_groups(y_true, y_pred, sf)
    cuts = np.array_split(np.arange(len(y_true)), parts)
    merged = GroupCounts.merge_all(count_groups(y_true[c], y_pred[c], sf.iloc[c]) for c in cuts if c.size)
    assert merged.groups == whole.groups and merged.names == whole.names
    np.testing.assert_array_equal(merged.cells, whole.cells)
    a = assessment_from_counts(merged, n_boot=0)
    b = pw.fairness.assess(y_true, y_pred, sf, n_boot=0)
    np.testing.assert_equal(a.disparities, b.disparities)  # NaN ratios compare equal


def test_dask_inputs_give_the_in_memory_result():
    dd = pytest.importorskip("dask.dataframe", reason="Dask is in the 'dist' extra")
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(2)
    n = 5000
    frame = pd.DataFrame({"y": rng.integers(0, 2, n), "p": rng.integers(0, 2, n),
                          "sex": rng.choice(["f", "m"], n), "age": rng.choice(["<40", "40+"], n),
                          "score": rng.random(n)})
    ddf = dd.from_pandas(frame, npartitions=7)
    ours = pw.fairness.assess(ddf["y"], ddf["p"], ddf[["sex", "age"]], y_score=ddf["score"], n_boot=0)
    ref = pw.fairness.assess(frame["y"], frame["p"], frame[["sex", "age"]], y_score=frame["score"], n_boot=0)
    np.testing.assert_equal(ours.disparities, ref.disparities)
    np.testing.assert_allclose(ours.by_group.to_numpy(float), ref.by_group.to_numpy(float), rtol=1e-12)
    arrays = pw.fairness.assess(da.from_array(frame["y"].to_numpy(), chunks=900),
                                da.from_array(frame["p"].to_numpy(), chunks=900),
                                da.from_array(frame["sex"].to_numpy(), chunks=900), n_boot=0)
    assert arrays.demographic_parity_difference == pytest.approx(
        fm.demographic_parity_difference(frame["y"], frame["p"], sensitive_features=frame["sex"]), abs=1e-12)
    with pytest.raises(TypeError, match="mix of Dask and in-memory"):
        pw.fairness.assess(ddf["y"], frame["p"], ddf["sex"])


def test_within_limits_and_to_dict_are_plain():
    y = np.array([1, 0, 1, 0, 1, 1, 0, 0])
    p = np.array([1, 0, 1, 1, 0, 1, 0, 0])
    g = np.array(["a"] * 4 + ["b"] * 4)
    r = pw.fairness.assess(y, p, g, n_boot=50, random_state=0)
    assert r.demographic_parity_difference == pytest.approx(0.5)  # 3/4 selected in a, 1/4 in b
    assert r.within({"demographic_parity_difference": 0.2}) == {"demographic_parity_difference": False}
    assert r.within({"demographic_parity_ratio": 0.3}) == {"demographic_parity_ratio": True}
    d = r.to_dict()
    assert d["groups"][0]["group"] == {"sensitive_feature_0": "a"} and d["groups"][0]["count"] == 4
    assert d["n_rows"] == 8 and len(d["disparity_intervals"]["equalized_odds_difference"]) == 2


@pytest.mark.parametrize(("args", "kwargs", "error", "match"), [
    (([0, 1, 2], [0, 1, 1], ["a", "b", "a"]), {}, ValueError, "binary labels"),
    ((["no", "yes"], [0, 1], ["a", "b"]), {}, TypeError, "binary labels"),
    (([0, 1, 1], [0, 1], ["a", "b", "a"]), {}, ValueError, "expected 3 predictions"),
    (([0, 1], [0, 1], ["a"]), {}, ValueError, "expected 2 values"),
    (([0, 1], [0, 1], np.array([1.0, np.nan])), {}, ValueError, "missing values"),
    (([0, 1], [0, 1], ["a", "b"]), {"y_score": [1, 0]}, TypeError, "float scores"),
    (([0, 1], [0, 1], ["a", "b"]), {"method": "pairwise"}, ValueError, "method"),
    (([0, 1], [0, 1], ["a", "b"]), {"n_boot": -1}, ValueError, "n_boot"),
    (([0, 1], [0, 1], ["a", "b"]), {"confidence": 1.5}, ValueError, "confidence"),
    (([], [], []), {}, ValueError, "at least one row"),
])
def test_bad_input_is_named(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        pw.fairness.assess(*args, **kwargs)


def test_minus_one_one_labels_and_bools_are_binary_labels():
    y = np.array([-1, 1, 1, -1])
    p = np.array([True, True, False, False])
    r = pw.fairness.assess(y, p, ["a", "a", "b", "b"], n_boot=0)
    assert r.demographic_parity_difference == 1.0
    assert r.demographic_parity_difference == fm.demographic_parity_difference(
        y, np.where(p, 1, -1), sensitive_features=["a", "a", "b", "b"])


def test_fairness_over_rolling_windows_alerts_once_per_crossing(tmp_path, caplog):
    """Group b's predictions degrade from batch 6 on; the window of 4 batches crosses the
    limit, alerts, says 'crossed' once, and always equals an assessment of its own rows."""
    from pipeward.accountability import FairnessMonitor

    rng = np.random.default_rng(4)
    monitor = pw.DriftMonitor(rng.normal(size=(200, 2)))
    watcher = monitor.watch_fairness({"equalized_odds_difference": 0.15}, window=4)
    assert isinstance(watcher, FairnessMonitor)
    batches, crossings, alerting = [], [], []
    with pw.AuditLog(tmp_path / "a.db") as log:
        for t in range(12):
            g = rng.choice(["a", "b"], 400)
            y = rng.integers(0, 2, 400)
            flip = rng.random(400) < np.where((g == "b") & (t >= 6), 0.35, 0.05)
            p = np.where(flip, 1 - y, y)
            batches.append((y, p, g))
            w = monitor.check_fairness(y, p, g, audit=log)
            recent = batches[-4:]
            direct = pw.fairness.assess(np.concatenate([b[0] for b in recent]), np.concatenate([b[1] for b in recent]),
                                        np.concatenate([b[2] for b in recent]), n_boot=0)
            np.testing.assert_equal(w.assessment.disparities, direct.disparities)
            crossings.append(w.crossed)
            alerting.append(not w.ok)
        records = list(log.records(action="monitor.fairness"))
    assert not any(alerting[:6]) and all(alerting[9:])
    assert sum(bool(c) for c in crossings) == 1
    warned = [r for r in caplog.records if r.name == "pipeward.accountability"]
    assert len(warned) == 1 and "equalized_odds_difference" in warned[0].getMessage()
    assert len(records) == 12 and records[-1].payload["alerts"] == ["equalized_odds_difference"]
    with pytest.raises(ValueError, match="watch_fairness"):
        pw.DriftMonitor(rng.normal(size=(50, 2))).check_fairness(y, p, g)
    with pytest.raises(ValueError, match="limits"):
        FairnessMonitor({"vibes": 1.0})
