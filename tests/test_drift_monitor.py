"""DriftMonitor, DriftReport, corrections, save/load and the `pipeward drift` CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.stats

import pipeward as pw
from pipeward.cli import main
from pipeward.drift import adjust_pvalues

pytestmark = pytest.mark.native


@pytest.fixture
def frames(rng):
    n, m = 3000, 2000
    ref = pd.DataFrame({"age": rng.normal(40, 10, n), "clicks": rng.integers(0, 6, n),
                        "country": rng.choice(["fr", "de", "uk"], n),
                        "tier": pd.Categorical(rng.choice(["a", "b"], n))})
    cur = pd.DataFrame({"age": rng.normal(44, 10, m), "clicks": rng.integers(0, 6, m),
                        "country": rng.choice(["fr", "de", "us"], m),
                        "tier": pd.Categorical(rng.choice(["a", "b"], m))})
    return ref, cur


def test_monitor_matches_scipy_and_psi(frames):
    ref, cur = frames
    report = pw.DriftMonitor(ref, correction="none").check(cur)
    assert report.feature_names == ["age", "clicks", "country", "tier"]
    assert report.kind == ["numeric", "numeric", "categorical", "categorical"]
    for i, col in enumerate(["age", "clicks"]):
        theirs = scipy.stats.ks_2samp(ref[col].to_numpy(float), cur[col].to_numpy(float))
        assert report.ks_statistic[i] == theirs.statistic
        assert report.ks_pvalue[i] == pytest.approx(theirs.pvalue, rel=1e-12, abs=1e-300)
        assert report.psi[i] == pytest.approx(
            pw.psi(ref[col].to_numpy(float), cur[col].to_numpy(float)), rel=1e-12)
    assert np.isnan(report.ks_pvalue[2:]).all()
    assert report.drifted.tolist() == [True, False, True, False]
    assert report.any_drift and report.drifted_features == ["age", "country"]


def test_unseen_category_gets_its_own_bin(frames):
    ref, cur = frames
    report = pw.DriftMonitor(ref).check(cur)
    r = ref["country"].value_counts(normalize=True)
    c = cur["country"].value_counts(normalize=True)
    cats = ["de", "fr", "uk", "us"]
    e = np.array([r.get(k, 0.0) for k in cats] + [0.0])
    a = np.array([c.get(k, 0.0) for k in cats] + [0.0])
    e, a = np.where(e == 0, 1e-4, e), np.where(a == 0, 1e-4, a)
    assert report.psi[2] == pytest.approx(np.sum((a - e) * np.log(a / e)), rel=1e-9)


def test_numpy_input_and_reuse(rng):
    ref = rng.normal(size=(5000, 6))
    mon = pw.DriftMonitor(ref, feature_names=list("abcdef"))
    for shift in (0.0, 0.5):
        cur = rng.normal(shift, size=(3000, 6))
        rep = mon.check(cur)
        theirs = scipy.stats.ks_2samp(ref, cur)
        np.testing.assert_allclose(rep.ks_pvalue, theirs.pvalue, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(rep.ks_pvalue_adjusted, adjust_pvalues(theirs.pvalue, "holm"))
    assert rep.drifted.all()


def test_nan_counts_reported(rng):
    ref = rng.normal(size=(500, 2))
    cur = rng.normal(size=(400, 2))
    ref[:10, 0] = np.nan
    cur[:30, 1] = np.nan
    rep = pw.DriftMonitor(ref).check(cur)
    assert rep.nan_reference.tolist() == [10, 0] and rep.nan_current.tolist() == [0, 30]
    theirs = scipy.stats.ks_2samp(ref, cur, nan_policy="omit")
    np.testing.assert_allclose(rep.ks_pvalue, theirs.pvalue, rtol=1e-12)


def test_report_exports(frames):
    ref, cur = frames
    rep = pw.DriftMonitor(ref).check(cur)
    d = rep.to_dict()
    assert d["drift"] is True and d["n_features"] == 4
    json.dumps(d)  # JSON-ready: NaN became None
    assert d["features"][2]["ks_pvalue"] is None
    frame = rep.to_frame()
    assert list(frame.index) == rep.feature_names and frame.loc["age", "drifted"]
    assert "drift: YES" in str(rep)


def test_save_and_load_without_pickle(frames, tmp_path):
    ref, cur = frames
    mon = pw.DriftMonitor(ref, alpha=0.01)
    path = tmp_path / "profile.npz"
    mon.save(path)
    with np.load(path, allow_pickle=False) as z:  # every array loads without pickle
        assert all(z[k].dtype != object for k in z.files)
    again = pw.DriftMonitor.load(path)
    a, b = mon.check(cur), again.check(cur)
    assert a.to_dict() == b.to_dict()


@pytest.mark.parametrize("correction", ["bonferroni", "holm", "bh", "by"])
def test_corrections(correction, rng):
    p = rng.uniform(0, 0.2, size=25)
    p[3] = np.nan
    adj = adjust_pvalues(p, correction)
    q = p[~np.isnan(p)]
    m = q.size
    if correction in ("bh", "by"):
        expected = scipy.stats.false_discovery_control(q, method=correction)
    elif correction == "bonferroni":
        expected = np.minimum(q * m, 1)
    else:  # Holm by definition: max over smaller-or-equal ranks of (m - rank) p
        order = np.argsort(q)
        s = np.minimum(np.maximum.accumulate((m - np.arange(m)) * q[order]), 1)
        expected = np.empty(m)
        expected[order] = s
    np.testing.assert_allclose(adj[~np.isnan(p)], expected, rtol=1e-12)
    assert np.isnan(adj[3])


def test_monitor_bad_input(rng):
    ref = rng.normal(size=(100, 3))
    mon = pw.DriftMonitor(ref)
    with pytest.raises(ValueError, match="features"):
        mon.check(rng.normal(size=(50, 2)))
    with pytest.raises(TypeError, match="same dtype"):
        mon.check(rng.normal(size=(50, 3)).astype(np.float32))
    with pytest.raises(ValueError, match="at least one row"):
        mon.check(np.empty((0, 3)))
    with pytest.raises(TypeError, match="DataFrame"):
        pw.DriftMonitor(np.array([["a", "b"]], dtype=object))
    with pytest.raises(ValueError, match="no non-NaN"):
        pw.DriftMonitor(np.full((10, 1), np.nan))
    with pytest.raises(ValueError, match="correction"):
        pw.DriftMonitor(ref, correction="fdr")
    with pytest.raises(ValueError, match="tests"):
        pw.DriftMonitor(ref, tests=("chi2",))
    with pytest.raises(ValueError, match="feature names"):
        pw.DriftMonitor(ref, feature_names=["a"])


# ---- CLI ------------------------------------------------------------------------------------

def test_cli_exit_codes_and_formats(tmp_path, rng, capsys):
    ref = rng.normal(size=(2000, 3))
    same = rng.normal(size=(1500, 3))
    shifted = same + np.array([0.0, 0.0, 0.5])
    np.save(tmp_path / "ref.npy", ref)
    np.savez(tmp_path / "same.npz", same)
    pd.DataFrame(shifted, columns=["f0", "f1", "f2"]).to_csv(tmp_path / "shift.csv", index=False)
    pd.DataFrame(shifted, columns=["f0", "f1", "f2"]).to_parquet(tmp_path / "shift.parquet")
    assert main(["drift", str(tmp_path / "ref.npy"), str(tmp_path / "same.npz"), "-q"]) == 0
    assert main(["drift", str(tmp_path / "ref.npy"), str(tmp_path / "shift.csv"), "--json",
                 "-o", str(tmp_path / "profile.npz")]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["drift"] is True and [f["drifted"] for f in out["features"]] == [False, False, True]
    assert main(["drift", str(tmp_path / "profile.npz"), str(tmp_path / "shift.parquet"), "-q"]) == 1
    assert main(["drift", str(tmp_path / "missing.npy"), str(tmp_path / "same.npz")]) == 2
    assert main(["drift", str(tmp_path / "ref.npy"), str(tmp_path / "ref.npy"), "--alpha", "2"]) == 2


def test_nullable_and_boolean_columns(rng):
    ref = pd.DataFrame({"n": pd.array([1, 2, None, 4] * 50, dtype="Int64"),
                        "flag": rng.random(200) < 0.5,
                        "s": pd.array(["x", None, "y", "x"] * 50, dtype="string")})
    cur = ref.iloc[::-1].reset_index(drop=True)
    rep = pw.DriftMonitor(ref).check(cur)
    assert rep.kind == ["numeric", "numeric", "categorical"]
    assert rep.nan_reference.tolist() == [50, 0, 50] and not rep.any_drift


# ---- fail closed: options and saved profiles ------------------------------------------------

BAD_OPTIONS = [["--tests", "KS,PSI"], ["--tests", ","], ["--alpha", "nan"], ["--alpha", "0"],
               ["--psi-threshold", "nan"], ["--psi-threshold", "inf"], ["--psi-threshold", "-1"]]


@pytest.fixture
def shifted_files(tmp_path, rng):
    """A reference, its saved profile, and a window shifted by 3 sd (drift by any measure)."""
    ref = rng.normal(size=(2000, 2))
    np.save(tmp_path / "ref.npy", ref)
    np.save(tmp_path / "cur.npy", rng.normal(size=(1000, 2)) + 3.0)
    pw.DriftMonitor(ref).save(tmp_path / "profile.npz")
    return tmp_path


@pytest.mark.parametrize("reference", ["ref.npy", "profile.npz"])
@pytest.mark.parametrize("option", BAD_OPTIONS, ids=" ".join)
def test_cli_checks_options_whatever_the_reference(shifted_files, reference, option, capsys):
    """With a saved profile, --tests KS,PSI or --alpha nan once printed "drift: no" (exit 0)
    on a 3 sd shift; raw data rejected them. Both are exit 2 now."""
    args = ["drift", str(shifted_files / reference), str(shifted_files / "cur.npy"), *option]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and option[0].lstrip("-").replace("-", "_") in err


@pytest.mark.parametrize("reference", ["ref.npy", "profile.npz"])
def test_cli_options_apply_to_a_profile(shifted_files, reference, capsys):
    args = ["drift", str(shifted_files / reference), str(shifted_files / "cur.npy"), "--json"]
    assert main([*args, "--tests", "psi", "--psi-threshold", "1e9"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tests"] == ["psi"] and out["drift"] is False
    assert main([*args, "--tests", "ks"]) == 1


def test_load_checks_settings_and_overrides(shifted_files):
    path = shifted_files / "profile.npz"
    with pytest.raises(ValueError, match="alpha"):
        pw.DriftMonitor.load(path, alpha=float("nan"))
    with pytest.raises(ValueError, match="tests"):
        pw.DriftMonitor.load(path, tests=("KS",))
    mon = pw.DriftMonitor.load(path, tests=("psi",), alpha=0.2)
    assert mon.tests == ("psi",) and mon.alpha == 0.2 and mon.correction == "holm"
    with pytest.raises(ValueError, match="eps"):
        pw.DriftMonitor(np.zeros((5, 1)), eps=0)


def _rewrite(path, **changes):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for k, v in changes.items():
        if v is None:
            del arrays[k]
        else:
            arrays[k] = v
    np.savez(path, **arrays)


def _settings(path, **changes):
    with np.load(path, allow_pickle=False) as z:
        settings = json.loads(str(z["settings"]))
    settings.update(changes)
    return np.array(json.dumps(settings))


@pytest.mark.parametrize("damage", [
    "no settings", "settings not JSON", "settings deeply nested", "alpha nan", "tests upper case",
    "psi_threshold inf", "n_reference zero", "unsorted", "NaN inside", "counts beyond rows",
    "edges decreasing", "ref_counts wrong shape", "kind unknown", "feature names short",
    "sorted as strings", "categories unsorted"])
def test_a_malformed_profile_is_a_clear_error(shifted_files, frames, damage, tmp_path):
    path = shifted_files / "profile.npz"
    with np.load(path, allow_pickle=False) as z:
        sorted_ref, edges = z["sorted"].copy(), z["edges"].copy()
    if damage == "no settings":
        _rewrite(path, settings=None)
    elif damage == "settings not JSON":
        _rewrite(path, settings=np.array("{alpha"))
    elif damage == "settings deeply nested":
        _rewrite(path, settings=np.array("[" * 100_000 + "]" * 100_000))
    elif damage == "alpha nan":
        _rewrite(path, settings=_settings(path, alpha=float("nan")))
    elif damage == "tests upper case":
        _rewrite(path, settings=_settings(path, tests=["KS", "PSI"]))
    elif damage == "psi_threshold inf":
        _rewrite(path, settings=_settings(path, psi_threshold=float("inf")))
    elif damage == "n_reference zero":
        _rewrite(path, settings=_settings(path, n_reference=0))
    elif damage == "unsorted":
        _rewrite(path, sorted=sorted_ref[:, ::-1].copy())
    elif damage == "NaN inside":
        sorted_ref[0, 5] = np.nan
        _rewrite(path, sorted=sorted_ref)
    elif damage == "counts beyond rows":
        _rewrite(path, sorted_counts=np.array([10**6, 10**6]))
    elif damage == "edges decreasing":
        _rewrite(path, edges=edges[:, ::-1].copy())
    elif damage == "ref_counts wrong shape":
        _rewrite(path, ref_counts=np.zeros((2, 3), dtype=np.int64))
    elif damage == "kind unknown":
        _rewrite(path, kind=np.array(["numeric", "text"]))
    elif damage == "feature names short":
        _rewrite(path, feature_names=np.array(["f0"]))
    elif damage == "sorted as strings":
        _rewrite(path, sorted=sorted_ref.astype(str))
    elif damage == "categories unsorted":
        path = tmp_path / "cat.npz"
        pw.DriftMonitor(frames[0]).save(path)
        _rewrite(path, categories_0=np.array(["uk", "fr", "de"]))
    with pytest.raises(ValueError, match="not a valid pipeward drift profile"):
        pw.DriftMonitor.load(path)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 not a zip", b"\x00" * 100])
def test_an_unreadable_profile_file_is_a_value_error(tmp_path, content):
    (tmp_path / "p.npz").write_bytes(content)
    with pytest.raises(ValueError, match="not a readable .npz archive"):
        pw.DriftMonitor.load(tmp_path / "p.npz")


def test_a_feature_no_selected_test_can_check_is_an_error(rng, frames, tmp_path):
    """"No drift" must mean "tested, and no drift": KS alone cannot test a categorical feature
    or a window with no value in a feature, and used to report such features as not drifted."""
    with pytest.raises(ValueError, match="categorical features .*country.*add 'psi'"):
        pw.DriftMonitor(frames[0], tests=("ks",))
    pw.DriftMonitor(frames[0]).save(tmp_path / "p.npz")
    with pytest.raises(ValueError, match="categorical"):
        pw.DriftMonitor.load(tmp_path / "p.npz", tests=("ks",))
    ref = rng.normal(size=(500, 2))
    cur = rng.normal(size=(300, 2))
    cur[:, 1] = np.nan
    empty_sample = pytest.warns(RuntimeWarning, match="empty after omitting NaNs")
    with pytest.raises(ValueError, match=r"no non-NaN value in feature\(s\) \['f1'\]"), empty_sample:
        pw.DriftMonitor(ref, tests=("ks",), feature_names=["f0", "f1"]).check(cur)
    with pytest.warns(RuntimeWarning, match="empty after omitting NaNs"):
        report = pw.DriftMonitor(ref, feature_names=["f0", "f1"]).check(cur)  # PSI sees it
    assert report.drifted.tolist() == [False, True]
