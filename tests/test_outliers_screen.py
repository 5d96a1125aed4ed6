"""The poisoning screen on real data with injected poison, its report, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits

import pipeward as pw
from pipeward.cli import main

pytestmark = pytest.mark.native


def _poison(X, y, rng, *, flip=0.05, backdoor=20, trigger):
    """Flip `flip` of the labels; add `backdoor` triggered copies relabelled to class 0."""
    n = len(y)
    X, y = X.astype(np.float64).copy(), y.copy()
    classes = np.unique(y)
    order = rng.permutation(n)
    flipped = order[: int(flip * n)]
    for i in flipped:
        y[i] = rng.choice(classes[classes != y[i]])
    Xb = X[order[len(flipped): len(flipped) + backdoor]].copy()
    trigger(Xb)
    X = np.vstack([X, Xb])
    y = np.concatenate([y, np.full(backdoor, classes[0])])
    poisoned = np.zeros(len(y), dtype=bool)
    poisoned[flipped] = True
    poisoned[n:] = True
    return X, y, poisoned


def _digits_trigger(Xb):
    Xb[:, [54, 55, 62, 63]] = 16.0  # a bright 2x2 patch in the bottom-right corner


def _cancer_trigger(Xb):
    Xb[:, [3, 23]] *= 4.0  # implausibly large "area" features


def _recall_precision(report, poisoned):
    q = np.zeros(poisoned.size, dtype=bool)
    q[report.quarantine] = True
    hits = (q & poisoned).sum()
    return hits / poisoned.sum(), hits / max(1, q.sum()), q


@pytest.mark.parametrize("seed", [0, 1])
def test_digits_poison_is_found(seed):
    """The demo's bar: recall >= 0.9 at precision >= 0.8 (flipped labels + a backdoor)."""
    d = load_digits()
    X, y, poisoned = _poison(d.data, d.target, np.random.default_rng(seed),
                             trigger=_digits_trigger)
    report = pw.screen(X, y)
    recall, precision, q = _recall_precision(report, poisoned)
    print(f"digits seed {seed}: recall {recall:.3f} precision {precision:.3f}", report.counts)
    assert recall >= 0.9 and precision >= 0.8
    assert q[-20:].mean() >= 0.95  # the backdoor cluster


def test_breast_cancer_backdoor_is_found():
    """Two classes that overlap: flips near the boundary are hard, the backdoor is not."""
    d = load_breast_cancer()
    X, y, poisoned = _poison(d.data, d.target, np.random.default_rng(0),
                             trigger=_cancer_trigger)
    report = pw.screen(X, y)
    recall, precision, q = _recall_precision(report, poisoned)
    print(f"breast-cancer: recall {recall:.3f} precision {precision:.3f}", report.counts)
    assert q[-20:].mean() >= 0.9
    assert precision >= 0.6


def test_clean_gaussian_data_is_left_alone(rng):
    X = rng.normal(size=(2000, 8))
    report = pw.screen(X)
    assert report.quarantine.size <= 2 and report.ok == (report.quarantine.size == 0)
    assert report.pvalues.shape == (2000,) and np.isfinite(report.distances).all()
    X[:15] += 9.0
    found = pw.screen(X)
    assert set(range(15)) <= set(found.outliers.tolist())


def test_report_split_and_summary(rng):
    X = rng.normal(size=(300, 4))
    X[:5] += 12
    y = (X[:, 0] > 0).astype(int)
    report = pw.screen(X, y)
    Xc, yc, Xq, yq = report.split(X, y)
    assert len(Xc) + len(Xq) == 300 and len(yc) == len(Xc) and len(yq) == len(Xq)
    assert "rows screened" in report.summary()
    Xc2, Xq2 = report.split(X)
    np.testing.assert_array_equal(Xc2, Xc)
    with pytest.raises(ValueError, match="rows"):
        report.split(X[:10])
    with pytest.raises(ValueError, match="labels"):
        pw.screen(X, y[:10])


def test_cli_exit_codes_and_outputs(tmp_path, rng, capsys):
    clean = rng.normal(size=(400, 3))
    np.save(tmp_path / "clean.npy", clean)
    assert main(["screen", str(tmp_path / "clean.npy"), "-q"]) == 0
    dirty = clean.copy()
    dirty[:4] += 15
    labelled = np.column_stack([dirty, (dirty[:, 1] > 0).astype(float)])
    np.save(tmp_path / "dirty.npy", labelled)
    out = tmp_path / "q.npy"
    code = main(["screen", str(tmp_path / "dirty.npy"), "--labels", "-1", "--quarantine",
                 str(out), "--json"])
    assert code == 1
    result = json.loads(capsys.readouterr().out)
    assert {0, 1, 2, 3} <= set(result["quarantine"])
    assert np.load(out).shape == (result["counts"]["quarantine"], 4)
    assert main(["screen", str(tmp_path / "missing.npy")]) == 2
    assert main(["screen", str(tmp_path / "dirty.npy"), "--labels", "name"]) == 2


def test_cli_reads_csv_with_a_label_column(tmp_path, rng):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    df["target"] = (df["a"] > 0).astype(int)
    df.loc[:2, ["b", "c"]] += 20
    df.to_csv(tmp_path / "d.csv", index=False)
    assert main(["screen", str(tmp_path / "d.csv"), "--labels", "target", "-q",
                 "--quarantine", str(tmp_path / "q.csv")]) == 1
    q = pd.read_csv(tmp_path / "q.csv")
    assert list(q.columns) == ["a", "b", "c", "target"] and len(q) >= 3
