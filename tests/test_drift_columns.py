"""Column mapping for drift (columns/exclude/target/timestamp, datetimes, matching by name) and
CSV tables read without pandas, in the library and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from core_install import cli_without_pandas
from hypothesis import given, settings
from hypothesis import strategies as st

import pipeward as pw
from pipeward._csvfile import read_csv

pytestmark = pytest.mark.native


def frame(n: int, shift: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "ts": pd.date_range("2024-01-01", periods=n, freq="h"),
        "age": rng.normal(40 + shift, 5, n).round(3),
        "income": np.where(np.arange(n) % 17 == 0, np.nan, rng.normal(50, 10, n).round(2)),
        "city": rng.choice(["lyon", "oslo", "pune"], n),
        "label": rng.integers(0, 2, n),
    })


@pytest.fixture
def tables():
    return frame(300, 0.0, 1), frame(250, 2.0, 2)


def report_numbers(report):
    """Feature names and their statistics, NaN-safe to compare with ``==``."""
    values = np.stack([report.ks_statistic, report.ks_pvalue, report.psi])
    return report.feature_names, np.nan_to_num(values, nan=-1.0).tolist()


# ---- choosing columns ----------------------------------------------------------------------

def test_target_timestamp_and_exclude_are_kept_out_by_name(tables):
    ref, cur = tables
    monitor = pw.DriftMonitor(ref, target="label", timestamp="ts", exclude=["city"])
    assert monitor.feature_names == ["age", "income"]
    report = monitor.check(cur)
    assert report.excluded == {"ts": "timestamp", "label": "target", "city": "excluded"}
    assert report.to_dict()["excluded"] == report.excluded
    assert "not tested: ts (timestamp), city (excluded), label (target)" in str(report)
    plain = pw.DriftMonitor(ref[["age", "income"]]).check(cur[["age", "income"]])
    assert report_numbers(report) == report_numbers(plain)


def test_columns_are_matched_by_name_whatever_their_order(tables):
    ref, cur = tables
    monitor = pw.DriftMonitor(ref, target="label")
    shuffled = cur[["label", "city", "income", "ts", "age"]]
    assert report_numbers(monitor.check(shuffled)) == report_numbers(monitor.check(cur))


def test_datetimes_left_out_with_a_note_or_tested_as_numbers(tables):
    ref, cur = tables
    report = pw.DriftMonitor(ref, target="label").check(cur)
    assert "ts" not in report.feature_names and "datetime" in report.excluded["ts"]
    as_numbers = pw.DriftMonitor(ref, columns=["ts", "age"], datetimes="numbers").check(cur)
    seconds = {name: (t["ts"].astype("datetime64[ns]").astype(np.int64) / 1e9).to_numpy()
               for name, t in (("ref", ref), ("cur", cur))}
    by_hand = pw.DriftMonitor({"ts": seconds["ref"], "age": ref["age"].to_numpy()}).check(
        {"ts": seconds["cur"], "age": cur["age"].to_numpy()})
    assert report_numbers(as_numbers) == report_numbers(by_hand)
    assert as_numbers.ks_pvalue[0] < 0.01  # 300 hours against 250: a different time span
    zoned = ref.assign(ts=ref["ts"].dt.tz_localize("Europe/Paris"))
    in_utc = ref.assign(ts=ref["ts"] - pd.Timedelta(hours=1))  # Paris is UTC+1 in January
    zoned_monitor = pw.DriftMonitor(zoned, columns=["ts"], datetimes="numbers")
    assert zoned_monitor.check(in_utc.assign(ts=in_utc["ts"].dt.tz_localize("UTC"))).ks_statistic[0] == 0


def test_mismatch_names_only_the_missing_and_extra_columns(tables):
    ref, cur = tables
    monitor = pw.DriftMonitor(ref, target="label", timestamp="ts")
    changed = cur.drop(columns=["income"]).assign(height=1.0)
    with pytest.raises(ValueError) as err:
        monitor.check(changed)
    msg = str(err.value)
    assert "'income'" in msg and "'height'" in msg
    assert "'age'" not in msg and "'city'" not in msg  # not both full lists
    monitor.check(cur.assign(label=cur["label"]))  # the target may come and go
    monitor.check(cur.drop(columns=["label"]))


def test_chosen_columns_ignore_the_rest(tables):
    ref, cur = tables
    monitor = pw.DriftMonitor(ref, columns=["income", "age"])
    assert monitor.feature_names == ["age", "income"]  # the table's order
    assert monitor.check(cur.assign(extra=0.0)).feature_names == ["age", "income"]
    with pytest.raises(ValueError, match="'weight'"):
        pw.DriftMonitor(ref, columns=["age", "weight"])
    with pytest.raises(ValueError, match="both chosen"):
        pw.DriftMonitor(ref, columns=["age"], exclude=["age"])
    with pytest.raises(ValueError, match="datetimes"):
        pw.DriftMonitor(ref, datetimes="days")
    with pytest.raises(ValueError, match="by name"):
        pw.DriftMonitor(ref[["age"]].to_numpy(), exclude=["age"])
    with pytest.raises(ValueError, match="unique"):
        pw.DriftMonitor(pd.DataFrame([[1.0, 2.0]], columns=["a", "a"]))


def test_rules_survive_save_and_load(tables, tmp_path):
    ref, cur = tables
    monitor = pw.DriftMonitor(ref, target="label", timestamp="ts")
    monitor.save(tmp_path / "p.npz")
    loaded = pw.DriftMonitor.load(tmp_path / "p.npz")
    shuffled = cur[["city", "label", "age", "ts", "income"]]
    assert report_numbers(loaded.check(shuffled)) == report_numbers(monitor.check(cur))
    assert loaded.check(cur).excluded == {"ts": "timestamp", "label": "target"}


def test_a_mapping_of_columns_is_a_table(tables):
    ref, cur = tables
    as_dict = {c: (ref[c].to_numpy(dtype=object) if c == "city" else ref[c].to_numpy())
               for c in ref.columns}
    cur_dict = {c: (cur[c].to_numpy(dtype=object) if c == "city" else cur[c].to_numpy())
                for c in cur.columns}
    ours = pw.DriftMonitor(as_dict, target="label").check(cur_dict)
    theirs = pw.DriftMonitor(ref, target="label").check(cur)
    assert report_numbers(ours) == report_numbers(theirs)


# ---- CSV without pandas ----------------------------------------------------------------------

def write_csv(path: Path, df: pd.DataFrame) -> Path:
    df.to_csv(path, index=False)
    return path


def test_read_csv_types_and_missing_values(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x,flag,when,name,empty\n"
                    "1.5,true,2024-01-02,a,\n"
                    "NA,False,,b,\n"
                    "-3e2,TRUE,2024-03-04 10:30:00,,\n"
                    "inf,,2024-05-06T00:00,NULL,\n")
    t = read_csv(path)
    assert list(t) == ["x", "flag", "when", "name", "empty"]
    np.testing.assert_array_equal(t["x"], [1.5, np.nan, -300.0, np.inf])
    np.testing.assert_array_equal(t["flag"], [1.0, 0.0, 1.0, np.nan])
    assert t["when"].dtype.kind == "M" and np.isnat(t["when"][1])
    assert t["when"][2] == np.datetime64("2024-03-04T10:30:00")
    assert t["name"].tolist() == ["a", "b", None, None]
    assert t["empty"].dtype == np.float64 and np.isnan(t["empty"]).all()


def test_read_csv_matches_pandas_on_numbers_and_text(tables, tmp_path):
    ref, _ = tables
    path = write_csv(tmp_path / "ref.csv", ref)
    ours, theirs = read_csv(path), pd.read_csv(path)
    for c in ("age", "income", "label"):
        np.testing.assert_array_equal(ours[c], theirs[c].to_numpy(dtype=np.float64))
    assert ours["city"].tolist() == theirs["city"].tolist()
    np.testing.assert_array_equal(ours["ts"], ref["ts"].to_numpy().astype("datetime64[s]"))


@st.composite
def csv_tables(draw):
    rows = draw(st.integers(1, 12))
    numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                        st.integers(-10**6, 10**6).map(float))
    words = st.text(alphabet='ab ,"\'x', min_size=1, max_size=6).filter(lambda w: w.strip())
    columns = {}
    for j in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["number", "text"]))
        values = st.one_of(st.none(), numbers if kind == "number" else words)
        columns[f"{kind}{j}"] = draw(st.lists(values, min_size=rows, max_size=rows))
    return pd.DataFrame({k: pd.Series(v, dtype=float if k.startswith("number") else object)
                         for k, v in columns.items()})


@settings(max_examples=40)
@given(csv_tables())
def test_read_csv_reads_what_pandas_reads(tmp_path_factory, df):
    path = write_csv(tmp_path_factory.mktemp("csv") / "t.csv", df)
    ours, theirs = read_csv(path), pd.read_csv(path)
    assert list(ours) == list(theirs.columns)
    for c in theirs.columns:
        if theirs[c].dtype.kind == "f" or ours[c].dtype.kind == "f":
            np.testing.assert_array_equal(ours[c], theirs[c].to_numpy(dtype=np.float64))
        else:
            assert ours[c].tolist() == [None if pd.isna(v) else v for v in theirs[c]]


@pytest.mark.parametrize("text,match", [
    ("", "empty"), ("a,b\n1\n", "line 2"), ("a,a\n1,2\n", "once"), ("a,\n1,2\n", "once")])
def test_read_csv_refuses_broken_files(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_csv(path)


def test_cli_reads_csv_without_pandas(tables, tmp_path):
    ref, cur = tables
    write_csv(tmp_path / "ref.csv", ref)
    write_csv(tmp_path / "cur.csv", cur[["income", "label", "age", "city", "ts"]])
    run = cli_without_pandas("drift", "ref.csv", "cur.csv", "--target", "label",
                             "--timestamp", "ts", "--json", cwd=tmp_path)
    assert run.returncode == 1, run.stderr  # age drifted by 2 sd/5: a verdict, not exit 2
    out = json.loads(run.stdout)
    assert [f["feature"] for f in out["features"]] == ["age", "income", "city"]
    assert out["excluded"] == {"ts": "timestamp", "label": "target"}
    expected = pw.DriftMonitor(ref, target="label", timestamp="ts").check(cur)
    theirs = expected.to_dict()["features"]  # the CSV round trip is exact: equal numbers
    for key in ("ks_statistic", "ks_pvalue", "psi", "nan_current"):
        assert [f[key] for f in out["features"]] == [f[key] for f in theirs], key


def test_cli_column_options_and_errors(tables, tmp_path):
    ref, cur = tables
    write_csv(tmp_path / "ref.csv", ref)
    write_csv(tmp_path / "cur.csv", cur.drop(columns=["income"]).assign(height=1.0))
    run = cli_without_pandas("drift", "ref.csv", "cur.csv", "--columns", "age,city", "-q",
                             cwd=tmp_path)
    assert run.returncode == 1 and run.stdout == ""
    run = cli_without_pandas("drift", "ref.csv", "cur.csv", "--exclude", "label", cwd=tmp_path)
    assert run.returncode == 2
    assert "'income'" in run.stderr and "'height'" in run.stderr and "'age'" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    (tmp_path / "ref.parquet").write_bytes(b"PAR1")
    run = cli_without_pandas("drift", "ref.parquet", "cur.csv", cwd=tmp_path)
    assert run.returncode == 2 and "pipeward[data]" in run.stderr
    run = cli_without_pandas("drift", "ref.csv", "cur.csv", "--target", "label", "-o", "p.npz",
                             "-q", cwd=tmp_path)
    assert run.returncode == 2  # height/income mismatch, but the profile was written first
    run = cli_without_pandas("drift", "p.npz", "cur.csv", "--exclude", "x", cwd=tmp_path)
    assert run.returncode == 2 and "saved profile" in run.stderr
