"""The poisoning screen on real data with injected poison, its report, and the CLI."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
from core_install import cli_without_pandas
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer, load_digits, load_wine

import pipeward as pw
from pipeward.cli import main
from pipeward.demo.attacks import flip_at_random, plant_trigger
from pipeward.outliers.thresholds import benjamini_hochberg

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
    assert all(found.reasons[i].startswith("outlier") for i in range(15))


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
    with pytest.raises(ValueError, match="NaN"):
        pw.screen(X, np.where(y > 0, 1.0, np.nan))
    with pytest.raises(ValueError, match="folds"):
        pw.screen(X, y, folds=1)


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
    assert list(q.columns) == ["row", "a", "b", "c", "target", "reason"] and len(q) >= 3


def test_cli_quarantine_file_keeps_the_row_index_and_a_reason(tmp_path, rng):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "reason"])
    df.loc[[5, 17], ["a", "b"]] += 25  # planted outliers; a column already named "reason"
    df.to_csv(tmp_path / "d.csv", index=False)
    for out in ("q.csv", "q.parquet"):
        assert main(["screen", str(tmp_path / "d.csv"), "-q", "--quarantine",
                     str(tmp_path / out)]) == 1
        q = pd.read_csv(tmp_path / out) if out.endswith(".csv") else pd.read_parquet(tmp_path / out)
        assert list(q.columns) == ["row", "a", "b", "reason", "_reason"]
        assert {5, 17} <= set(q["row"])
        planted = q.set_index("row").loc[[5, 17]]
        np.testing.assert_allclose(planted["a"], df.loc[[5, 17], "a"])
        assert planted["_reason"].str.startswith("outlier (robust distance p =").all()
    # array input: the row is the position in the file
    X = df.to_numpy()
    np.save(tmp_path / "x.npy", X)
    assert main(["screen", str(tmp_path / "x.npy"), "-q", "--quarantine",
                 str(tmp_path / "qx.csv")]) == 1
    qx = pd.read_csv(tmp_path / "qx.csv")
    assert qx.columns[0] == "row" and qx.columns[-1] == "reason" and {5, 17} <= set(qx["row"])
    np.testing.assert_allclose(qx.iloc[:, 1:-1].to_numpy(), X[qx["row"]])


def test_cli_screens_csv_on_the_core_install(tmp_path, rng):
    """No pandas: the CSV is read by the stdlib reader, the quarantine and clean files are
    written by the stdlib writer with every field as it was in the input."""
    X = rng.normal(size=(300, 3)).round(4)
    X[[5, 17], :2] += 25  # planted outliers
    species = np.where(X[:, 2] > 0, "cat", "dog")
    lines = [["a", "b", "c", "species"]]
    lines += [[f"{v:g}" for v in x] + [s] for x, s in zip(X, species)]  # "3" as well as "0.25"
    lines[9][3] = "dog, grey"  # a quoted field with a comma
    with open(tmp_path / "d.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(lines)
    run = cli_without_pandas("screen", "d.csv", "--labels", "species", "--json",
                             "--quarantine", "q.csv", "-o", "clean.csv", cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    result = json.loads(run.stdout)
    expected = pw.screen(X, np.array([r[3] for r in lines[1:]]))
    assert result["quarantine"] == expected.quarantine.tolist() and {5, 17} <= set(
        result["quarantine"])
    with open(tmp_path / "q.csv", newline="") as fh:
        q = list(csv.reader(fh))
    assert q[0] == ["row", "a", "b", "c", "species", "reason"]
    assert [int(r[0]) for r in q[1:]] == result["quarantine"]
    for r in q[1:]:
        assert r[1:-1] == lines[int(r[0]) + 1]  # the input's text, unchanged
        assert r[-1] == str(expected.reasons[int(r[0])])
    with open(tmp_path / "clean.csv", newline="") as fh:
        clean = list(csv.reader(fh))
    kept = [i for i in range(300) if i not in set(result["quarantine"])]
    assert clean == [lines[0]] + [lines[i + 1] for i in kept]
    # Parquet needs the data extra; .npy holds numbers only: both a clear exit 2
    run = cli_without_pandas("screen", "d.csv", "--labels", "species", "-q",
                             "--quarantine", "q.parquet", cwd=tmp_path)
    assert run.returncode == 2 and "pipeward[data]" in run.stderr
    run = cli_without_pandas("screen", "d.csv", "--labels", "species", "-q",
                             "--quarantine", "q.npy", cwd=tmp_path)
    assert run.returncode == 2 and "species" in run.stderr and "Traceback" not in run.stderr
    numbers = tmp_path / "n.csv"
    numbers.write_text("\n".join(",".join(r[:3]) for r in lines) + "\n")
    run = cli_without_pandas("screen", "n.csv", "-q", "--quarantine", "q.npy", cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    flagged = pw.screen(X).quarantine
    np.testing.assert_array_equal(np.load(tmp_path / "q.npy"), X[flagged])
    # whole-number labels read as integers, as pandas reads them: "label 1", not "label 1.0"
    y = (X[:, 0] > 0).astype(int)
    y[40:43] = 1 - y[40:43]
    (tmp_path / "i.csv").write_text("a,b,c,y\n" + "".join(
        f"{a:g},{b:g},{c:g},{t}\n" for (a, b, c), t in zip(X, y)))
    run = cli_without_pandas("screen", "i.csv", "--labels", "y", "-q", "--quarantine",
                             "qi.csv", cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    with open(tmp_path / "qi.csv", newline="") as fh:
        reasons = [r[-1] for r in csv.reader(fh)][1:]
    labelled = [r for r in reasons if "label" in r]
    assert labelled and all(re.search(r"label [01] ", r) for r in labelled), labelled


def test_regression_target_is_refused_for_label_screening(tmp_path, rng, capsys):
    pd = pytest.importorskip("pandas")
    X = rng.normal(size=(300, 3))
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    df["target"] = X @ [1.0, 2.0, -1.0] + 0.1 * rng.normal(size=300)  # 300 distinct values
    df.to_csv(tmp_path / "reg.csv", index=False)
    assert main(["screen", str(tmp_path / "reg.csv"), "--labels", "target"]) == 2
    err = capsys.readouterr().err.strip()
    assert "continuous (regression) target (300 distinct values" in err
    assert "without --labels" in err and len(err.splitlines()) == 1
    with pytest.raises(ValueError, match="continuous"):
        pw.screen(X, df["target"].to_numpy())
    # whole-number floats are class labels, as sklearn's type_of_target says
    df["target"] = (X[:, 0] > 0).astype(float)
    df.to_csv(tmp_path / "cls.csv", index=False)
    assert main(["screen", str(tmp_path / "cls.csv"), "--labels", "target", "-q"]) in (0, 1)
    from sklearn.utils.multiclass import type_of_target

    from pipeward.outliers.screen import continuous_example
    for y in (np.array([0.0, 1.0, 2.0]), np.array([0.5, 1.0]), np.array([1, 2, 3]),
              np.array(["a", "b"]), np.array([True, False]), np.array([1e6, -3.0, 2.25])):
        assert (continuous_example(y) is not None) == (type_of_target(y) == "continuous")


def test_cli_labels_error_lists_every_column(tmp_path, rng, capsys):
    pd = pytest.importorskip("pandas")
    for width, expected in ((12, "c11)"), (60, "c39 ... and 20 more)")):
        df = pd.DataFrame(rng.normal(size=(20, width)), columns=[f"c{i}" for i in range(width)])
        df.to_csv(tmp_path / "w.csv", index=False)
        assert main(["screen", str(tmp_path / "w.csv"), "--labels", "target"]) == 2
        err = capsys.readouterr().err
        assert err.rstrip().endswith(expected), err


def test_cli_json_carries_the_scores_the_report_draws(tmp_path, rng, capsys):
    X = rng.normal(size=(400, 3))
    X[:4] += 15
    np.save(tmp_path / "x.npy", X)
    assert main(["screen", str(tmp_path / "x.npy"), "--json"]) == 1
    text = capsys.readouterr().out
    result = json.loads(text)
    assert len(result["scores"]) == 400 and result["score_label"]
    flagged = np.asarray(result["scores"])[result["outliers"]]
    assert result["threshold"] == pytest.approx(flagged.min())
    assert (np.asarray(result["scores"]) >= result["threshold"]).sum() == len(result["outliers"])
    (tmp_path / "s.json").write_text(text)
    assert main(["report", "--screen", str(tmp_path / "s.json"), "-o",
                 str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text()
    assert "Outlier scores of the training rows" in page and "<svg" in page


# --- label flips against confident learning, and the false-discovery rate ---------------

def _f1(found, truth):
    hits = (found & truth).sum()
    return 2.0 * hits / max(found.sum() + truth.sum(), 1)


def _mask(indices, n):
    m = np.zeros(n, dtype=bool)
    m[indices] = True
    return m


def _confident_learning(X, y, seed):
    """cleanlab's find_label_issues on 5-fold probabilities of a standardised logistic
    regression: the peer the issue measures against."""
    filt = pytest.importorskip("cleanlab.filter")
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    P = cross_val_predict(model, X, y, cv=StratifiedKFold(5, shuffle=True, random_state=seed),
                          method="predict_proba")
    return np.asarray(filt.find_label_issues(y, P))


SKLEARN_SETS = {"breast_cancer": load_breast_cancer, "wine": load_wine, "digits": load_digits}


@pytest.mark.parametrize("name", sorted(SKLEARN_SETS))
def test_label_flips_found_at_least_as_well_as_confident_learning(name):
    """Mean F1 over seeds of 10% random flips, same rows and flips for both (digits, where
    the margin is wide and the peer's fit slow, over two)."""
    X, y = SKLEARN_SETS[name](return_X_y=True)
    ours, peer = _f1_against_confident_learning(X, y, 0.10, 2 if name == "digits" else 3)
    print(f"{name}: pipeward F1 {ours:.3f}, cleanlab {peer:.3f}")
    assert ours >= peer
    if name == "digits":  # the recall the screen had on digits before out-of-fold evidence
        assert ours >= 0.9


def _f1_against_confident_learning(X, y, rate, seeds):
    """Mean label-flip F1 of pw.screen and of cleanlab over seeds, same rows and flips."""
    ours, peer = [], []
    for seed in range(seeds):
        noisy, flipped = flip_at_random(y, rate, np.random.default_rng(seed))
        report = pw.screen(X, noisy, random_state=seed)
        ours.append(_f1(_mask(report.label_suspects, y.size), flipped))
        peer.append(_f1(_confident_learning(X, noisy, seed), flipped))
    return float(np.mean(ours)), float(np.mean(peer))


def _imbalanced_pair() -> tuple[np.ndarray, np.ndarray]:
    """The bench's 85/15 pair: 3,000 rows, 10 features (5 informative), separation 1; each
    class has its own covariance (make_classification transforms each cluster)."""
    from sklearn.datasets import make_classification

    return make_classification(3000, 10, n_informative=5, n_redundant=0, n_classes=2,
                               n_clusters_per_class=1, class_sep=1.0, weights=[0.85],
                               random_state=1)


def test_imbalanced_pair_flips_found_at_least_as_well_as_confident_learning():
    """85/15 classes overlapping at separation 1 with 5% random flips: the flips into the
    majority label keep a P(label wrong) just under 1/2 (the minority class is fitted through
    its own flipped rows), which the confident-learning budget and a 1/2 cut both left out
    (F1 0.79-0.81 against cleanlab's 0.83-0.87 on these seeds); the expected-F1 cut keeps them."""
    X, y = _imbalanced_pair()
    ours, peer = _f1_against_confident_learning(X, y, 0.05, 3)
    print(f"85/15: pipeward F1 {ours:.3f}, cleanlab {peer:.3f}")
    assert ours >= peer


@pytest.mark.parametrize("name", ["breast_cancer", "wine"])
def test_one_percent_flips_found_at_least_as_well_as_confident_learning(name):
    """1% random flips (6 rows of breast cancer, 2 of wine), 10 seeds: with no row
    confidently crossing between two classes the noise rate between them was estimated as
    0, so a clear flip got P(label wrong) = 0 (wine F1 0.610 against cleanlab's 0.767), and
    the second fit without the suspects sharpened the model against the clean borderline
    rows (breast cancer 0.710 against 0.744)."""
    X, y = SKLEARN_SETS[name](return_X_y=True)
    ours, peer = _f1_against_confident_learning(X, y, 0.01, 10)
    print(f"{name} 1%: pipeward F1 {ours:.3f}, cleanlab {peer:.3f}")
    assert ours >= peer


def test_one_percent_flips_on_classes_with_their_own_covariance():
    """The 85/15 pair at 1% flips (30 rows), 10 seeds: make_classification gives each class
    its own covariance, and the tied-covariance model ranked the flips below cleanlab's
    logistic regression (F1 0.748 against 0.769); the per-class model, chosen by its
    out-of-fold Brier score, gives 0.771."""
    X, y = _imbalanced_pair()
    ours, peer = _f1_against_confident_learning(X, y, 0.01, 10)
    print(f"85/15 1%: pipeward F1 {ours:.3f}, cleanlab {peer:.3f}")
    assert ours >= peer


def test_per_class_probabilities_match_the_gaussian_densities():
    """The per-class model's out-of-fold posteriors against SciPy's normal densities with
    scikit-learn's OAS covariance of each class over the other folds (OAS is scale-free, so
    n / (n - 1) turns sklearn's biased estimate into the model's unbiased one)."""
    from scipy.stats import multivariate_normal
    from sklearn.covariance import OAS

    from pipeward.outliers.labels import _fold_class_moments, _per_class_probabilities

    rng = np.random.default_rng(3)
    codes = np.repeat([0, 1, 2], [60, 90, 50])
    Z = rng.normal(size=(200, 4)) * (1.0 + codes[:, None]) + codes[:, None]
    fold = rng.integers(0, 3, size=200)
    shift, scale = Z.mean(axis=0), Z.std(axis=0)
    per_fold = _fold_class_moments(Z, codes, 3, fold, np.zeros(200, dtype=bool), 1,
                                   shift=shift, scale=scale)
    P = _per_class_probabilities(Z, fold, per_fold, shift=shift, scale=scale)
    X = (Z - shift) / scale
    for f in range(3):
        train, test = fold != f, fold == f
        rows = [X[train & (codes == k)] for k in range(3)]
        log = np.stack([np.log(r.shape[0] / train.sum()) + multivariate_normal(
            r.mean(axis=0), OAS().fit(r).covariance_ * r.shape[0] / (r.shape[0] - 1)
        ).logpdf(X[test]) for r in rows], axis=1)
        expected = np.exp(log - log.max(axis=1, keepdims=True))
        np.testing.assert_allclose(P[test], expected / expected.sum(axis=1, keepdims=True),
                                   rtol=1e-6, atol=1e-9)


def test_noise_prior_keeps_a_clear_flip_between_uncrossed_classes_in_doubt():
    """With a diagonal confident joint (no row confidently crossed), a row labelled 0 that
    the model places in class 1 with probability 0.98 is wrong with probability 0 by the
    plain estimate; one pseudo-row per cell gives it the Laplace rate instead (0.41 here)."""
    from pipeward.outliers.labels import wrong_label_posterior

    C = np.diag([60.0, 70.0])
    codes = np.array([0, 0, 1])
    P = np.array([[0.02, 0.98], [0.9, 0.1], [0.3, 0.7]])
    assert wrong_label_posterior(codes, P, C)[0] == 0.0
    wrong = wrong_label_posterior(codes, P, C, prior=1.0)
    T = (C + 1.0) / (C + 1.0).sum(axis=0)
    expected = 1.0 - P[[0, 1, 2], codes] * T[codes, codes] / (P * T[codes]).sum(axis=1)
    np.testing.assert_allclose(wrong, expected)
    assert wrong[0] > 0.25 > 0.01 > wrong[1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=40))
def test_expected_f1_flags_are_the_best_top_set(wrong):
    """The flagged set is a top set by probability whose plug-in expected F1
    (2 * sum of its probabilities / (its size + sum of all)) no other top set beats."""
    from pipeward.outliers.labels import expected_f1_flags

    w = np.array(wrong)
    flagged = expected_f1_flags(w)
    if w.sum() == 0:
        assert not flagged.any()
        return
    assert flagged.any() and w[flagged].min() >= w[~flagged].max(initial=0.0)
    best = max(2.0 * np.sort(w)[::-1][:m].sum() / (m + w.sum()) for m in range(1, w.size + 1))
    assert 2.0 * w[flagged].sum() / (flagged.sum() + w.sum()) == pytest.approx(best)


@pytest.mark.parametrize("name", sorted(SKLEARN_SETS))
def test_fdr_holds_on_clean_labels_and_planted_flips(name):
    """At fdr=0.1: on the labels as shipped nothing (or next to nothing) is flagged, and
    with 5% and 15% planted flips the realised false-discovery proportion, pooled over
    seeds, stays within 0.1 plus two standard errors."""
    X, y = SKLEARN_SETS[name](return_X_y=True)
    clean = pw.screen(X, y, fdr=0.1)
    assert clean.label_suspects.size <= 2  # the shipped labels hold a few genuine errors
    assert clean.fdr == 0.1 and "at FDR 0.1" in clean.summary()
    false, found = 0, 0
    for seed, rate in [(0, 0.05), (1, 0.05), (2, 0.15), (3, 0.15)]:
        noisy, flipped = flip_at_random(y, rate, np.random.default_rng(seed))
        report = pw.screen(X, noisy, fdr=0.1, random_state=seed)
        flagged = _mask(report.label_suspects, y.size)
        false += int((flagged & ~flipped).sum())
        found += int(flagged.sum())
        # BH on the reported p-values is what was flagged
        assert np.array_equal(flagged, benjamini_hochberg(report.label_pvalues, 0.1))
    fdp = false / max(found, 1)
    print(f"{name}: {found} flagged, realised FDP {fdp:.3f}")
    assert found > 0 and fdp <= 0.1 + 2.0 * np.sqrt(0.1 * 0.9 / found)


@pytest.mark.xfail(reason="known gap (issue #21): under heavy class overlap the calibration "
                   "set (rows with label_wrong <= 0.5) loses the ambiguous clean rows, so "
                   "fdr=0.1 is exceeded; see docs/outliers.md", strict=True)
def test_fdr_holds_under_heavy_class_overlap():
    """Three classes of two clusters each in 5 features (the bench's hardest shape), 10%
    planted flips: the realised FDP at fdr=0.1 should stay within 0.1 plus two standard
    errors. It does not (0.39 over these 2 seeds, 186 flagged); strict, so a fix shows up
    here. Deconvolving the noise (P(label right) = T_cc p_c / q_c, Bayesian FDR) did not fix
    it either, even with the true flip rate (0.18-0.43). No calibration from (x, y) alone can
    hold everywhere (docs/outliers.md); with trusted= rows it holds by construction
    (test_trusted_rows_hold_the_fdr runs this shape)."""
    from sklearn.datasets import make_classification

    X, y = make_classification(1500, 5, n_informative=3, n_redundant=0, n_classes=3,
                               n_clusters_per_class=2, class_sep=1.0, random_state=3)
    false, found = 0, 0
    for seed in range(2):
        noisy, flipped = flip_at_random(y, 0.1, np.random.default_rng(seed))
        flagged = _mask(pw.screen(X, noisy, fdr=0.1, random_state=seed).label_suspects, y.size)
        false += int((flagged & ~flipped).sum())
        found += int(flagged.sum())
    print(f"3 classes x 2 clusters, 10% flips: {found} flagged, FDP {false / max(found, 1):.3f}")
    assert found > 0 and false / found <= 0.1 + 2.0 * np.sqrt(0.1 * 0.9 / found)


def _with_trusted(y, rate, share, seed):
    """Random flips at ``rate``, then ``share`` of the rows drawn at random and their labels
    checked (set back to the truth): (noisy labels, flipped rows, trusted mask)."""
    noisy, flipped = flip_at_random(y, rate, np.random.default_rng(seed))
    trusted = np.zeros(y.size, dtype=bool)
    trusted[np.random.default_rng(1000 + seed).choice(y.size, int(share * y.size),
                                                      replace=False)] = True
    noisy[trusted] = y[trusted]
    return noisy, flipped & ~trusted, trusted


def _overlapping_clusters():
    from sklearn.datasets import make_classification

    return make_classification(1500, 5, n_informative=3, n_redundant=0, n_classes=3,
                               n_clusters_per_class=2, class_sep=1.0, random_state=3)


@pytest.mark.parametrize("case", ["digits", "overlap"])
def test_trusted_rows_hold_the_fdr(case):
    """With the p-values calibrated on a random quarter of the rows, labels checked: no flag
    on the clean labels, and with planted flips the realised FDP at fdr=0.1, pooled over
    seeds, within 0.1 plus two standard errors, on digits (with discoveries) and on the
    heavy-overlap shape where the default calibration reaches 0.36-0.50
    (test_fdr_holds_under_heavy_class_overlap)."""
    X, y = load_digits(return_X_y=True) if case == "digits" else _overlapping_clusters()
    rate = 0.1 if case == "digits" else 0.2
    false, found = 0, 0
    for seed in range(3):
        noisy, flipped, trusted = _with_trusted(y, rate, 0.25, seed)
        report = pw.screen(X, noisy, fdr=0.1, trusted=trusted, random_state=seed)
        flagged = _mask(report.label_suspects, y.size)
        assert not (flagged & trusted).any()
        false += int((flagged & ~flipped).sum())
        found += int(flagged.sum())
    fdp = false / max(found, 1)
    print(f"{case}, trusted: {found} flagged, realised FDP {fdp:.3f}")
    _, _, trusted = _with_trusted(y, 0.0, 0.25, 0)
    assert pw.screen(X, y, fdr=0.1, trusted=trusted).label_suspects.size == 0  # clean labels
    assert fdp <= 0.1 + 2.0 * np.sqrt(0.1 * 0.9 / max(found, 1))
    if case == "digits":
        assert found >= 300  # the flips are separable there: most of them are found


def test_trusted_pvalues_are_ranks_among_the_trusted_rows():
    """Trusted rows are no hypotheses (p = 1, never flagged, never 'wrong'); every other
    p-value is (1 + #trusted rows at least as nonconforming) / (#trusted + 1), so a multiple
    of 1 / (#trusted + 1); the flags are BH over the untrusted rows; a mask and the same rows
    as indices agree; without fdr= the default rules skip trusted rows too."""
    X, y = load_wine(return_X_y=True)
    noisy, flipped, trusted = _with_trusted(y, 0.2, 0.4, 0)
    report = pw.screen(X, noisy, fdr=0.1, trusted=trusted)
    n_t = int(trusted.sum())
    assert report.trusted_rows == n_t and f"calibrated on {n_t} trusted rows" in report.summary()
    assert report.to_dict()["trusted_rows"] == n_t
    assert (report.label_pvalues[trusted] == 1.0).all()
    ranks = report.label_pvalues[~trusted] * (n_t + 1)
    assert np.allclose(ranks, np.round(ranks)) and ranks.min() >= 1.0
    expected = np.zeros(y.size, dtype=bool)
    expected[np.flatnonzero(~trusted)] = benjamini_hochberg(report.label_pvalues[~trusted], 0.1)
    assert np.array_equal(_mask(report.label_suspects, y.size), expected)
    assert expected.sum() > 0
    by_index = pw.screen(X, noisy, fdr=0.1, trusted=np.flatnonzero(trusted))
    assert np.array_equal(by_index.label_suspects, report.label_suspects)
    default = pw.screen(X, noisy, trusted=trusted)
    assert not _mask(default.label_suspects, y.size)[trusted].any()


def test_trusted_argument_is_checked():
    X, y = load_wine(return_X_y=True)
    n = y.size
    with pytest.raises(ValueError, match="one entry per row"):
        pw.screen(X, y, trusted=np.ones(n - 1, dtype=bool))
    with pytest.raises(ValueError, match=r"must lie in \[-178, 178\)"):
        pw.screen(X, y, trusted=[0, 178])
    with pytest.raises(TypeError, match="float64"):
        pw.screen(X, y, trusted=np.ones(n))
    with pytest.raises(ValueError, match="selects no row"):
        pw.screen(X, y, trusted=np.zeros(n, dtype=bool))
    with pytest.raises(ValueError, match="non-empty"):
        pw.screen(X, y, trusted=[])
    with pytest.raises(ValueError, match="can never give a discovery at fdr=0.1"):
        pw.screen(X, y, fdr=0.1, trusted=np.arange(8))
    with pytest.raises(ValueError, match="needs labels"):
        pw.screen(X, trusted=np.arange(20))


def test_cli_trusted_column_and_file(tmp_path, capsys):
    X, y = load_wine(return_X_y=True)
    noisy, flipped, trusted = _with_trusted(y, 0.2, 0.4, 0)
    names = [f"f{j}" for j in range(X.shape[1])]
    with open(tmp_path / "wine.csv", "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow([*names, "label", "checked"])
        out.writerows([[*map(repr, row), int(lab), "true" if t else "false"]
                       for row, lab, t in zip(X.tolist(), noisy, trusted)])
    expected = pw.screen(X, noisy, fdr=0.1, trusted=trusted)
    code = main(["screen", str(tmp_path / "wine.csv"), "--labels", "label", "--fdr", "0.1",
                 "--trusted", "checked", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 1 and result["trusted_rows"] == int(trusted.sum())
    assert result["label_suspects"] == expected.label_suspects.tolist()
    np.savetxt(tmp_path / "rows.txt", np.flatnonzero(trusted), fmt="%d")
    assert main(["screen", str(tmp_path / "wine.csv"), "--labels", "label", "--fdr", "0.1",
                 "--trusted", str(tmp_path / "rows.txt"), "--json"]) == 1
    from_file = json.loads(capsys.readouterr().out)
    # the 'checked' column stays a feature here, so only the calibration rows are compared
    assert from_file["trusted_rows"] == int(trusted.sum())
    csv_path = str(tmp_path / "wine.csv")
    assert main(["screen", csv_path, "--labels", "label", "--trusted", "nope"]) == 2
    assert main(["screen", csv_path, "--labels", "label", "--trusted", "f0"]) == 2  # not 0/1
    assert main(["screen", csv_path, "--trusted", "checked"]) == 2  # no labels
    assert main(["screen", csv_path, "--labels", "label", "--fdr", "0.1", "--trusted",
                 str(tmp_path / "few.txt")]) == 2  # no such file, no such column
    np.savetxt(tmp_path / "few.txt", [0, 1, 2], fmt="%d")
    assert main(["screen", csv_path, "--labels", "label", "--fdr", "0.1", "--trusted",
                 str(tmp_path / "few.txt")]) == 2  # too few for fdr=0.1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error:") == 5
    assert "--trusted" in err and "can never give a discovery" in err


def test_label_pvalues_are_conformal_ranks():
    """Each p-value is (1 + #calibration rows at least as nonconforming) / (|cal| + 1),
    with a calibration row not counting itself (checked against a direct count)."""
    from pipeward.outliers.labels import conformal_label_pvalues

    rng = np.random.default_rng(3)
    scores = rng.random(200).round(2)  # ties on purpose
    cal = rng.random(200) < 0.7
    p = conformal_label_pvalues(scores, cal)
    for i in range(200):
        others = cal.copy()
        others[i] = False
        expected = (1 + (scores[others] >= scores[i]).sum()) / (others.sum() + 1)
        assert p[i] == pytest.approx(expected)


def test_estimator_stands_in_for_the_gaussian_model():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    noisy, flipped = flip_at_random(y, 0.1, np.random.default_rng(0))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    report = pw.screen(X, noisy, estimator=model)
    assert _f1(_mask(report.label_suspects, y.size), flipped) >= 0.8
    with pytest.raises(TypeError, match="predict_proba"):
        pw.screen(X, noisy, estimator=object())
    with pytest.raises(ValueError, match="needs labels"):
        pw.screen(X, estimator=model)
    with pytest.raises(ValueError, match="fdr"):
        pw.screen(X, noisy, fdr=1.5)


def test_reasons_say_what_flagged_each_row():
    X, y = load_wine(return_X_y=True)
    noisy, flipped = flip_at_random(y, 0.1, np.random.default_rng(1))
    report = pw.screen(X, noisy)
    assert report.reasons.shape == (y.size,) and report.label_pvalues.shape == (y.size,)
    for i in range(y.size):
        assert bool(report.reasons[i]) == (i in set(report.quarantine.tolist()))
    for i in report.label_suspects:
        assert "label" in report.reasons[i]
        assert ("wrong label" in report.reasons[i]) == (report.label_wrong[i] > 0.5)
    d = report.to_dict()
    assert set(d["reasons"]) == {str(i) for i in report.quarantine}


# --- tabular backdoors ----------------------------------------------------------------------

@pytest.mark.parametrize("name,share,features,jitter", [
    ("breast_cancer", 0.03, (3,), 0.0), ("breast_cancer", 0.05, (7, 21), 0.05),
    ("digits", 0.01, (5, 13, 40), 0.0), ("digits", 0.03, (20, 44), 0.05),
    ("synthetic", 0.01, (2, 9), 0.05), ("synthetic", 0.05, (0, 4, 11), 0.0),
])
def test_tabular_backdoor_rows_and_trigger_features_are_found(name, share, features, jitter):
    if name == "synthetic":
        from sklearn.datasets import make_classification

        X, y = make_classification(3000, 12, n_informative=6, n_classes=3, random_state=0)
    else:
        X, y = SKLEARN_SETS[name](return_X_y=True)
    Xp, yp, poisoned = plant_trigger(X, y, share, features, np.random.default_rng(0),
                                      jitter=jitter)
    report = pw.screen(Xp, yp)
    found = _mask(report.backdoor_suspects, yp.size)
    recall = (found & poisoned).sum() / poisoned.sum()
    precision = (found & poisoned).sum() / max(found.sum(), 1)
    assert recall >= 0.9 and precision >= 0.9, (recall, precision)
    assert [sorted(t["features"]) for t in report.triggers] == [sorted(features)]
    assert report.triggers[0]["label"] == np.unique(y)[0]


def test_trigger_features_are_named_from_dataframe_columns():
    pd = pytest.importorskip("pandas")
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    Xp, yp, poisoned = plant_trigger(X.to_numpy(), y.to_numpy(), 0.03, (4,),
                                      np.random.default_rng(1))
    report = pw.screen(pd.DataFrame(Xp, columns=X.columns), yp)
    assert [t["features"] for t in report.triggers] == [[X.columns[4]]]
    assert all("backdoor trigger" in report.reasons[i] for i in np.flatnonzero(poisoned))
    as_json = json.loads(json.dumps(report.to_dict()))
    assert as_json["triggers"][0]["rows"] == np.flatnonzero(poisoned).tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_row_trigger_on_small_data_is_found(seed):
    """Wine at 1% is 2 poisoned rows, too few for a value spike; their shared unusual values
    (on 1-3 features, as the bench plants them) and one label are found by coincidence."""
    X, y = load_wine(return_X_y=True)
    rng = np.random.default_rng(seed)
    features = sorted(rng.choice(X.shape[1], 1 + seed % 3, replace=False).tolist())
    Xp, yp, poisoned = plant_trigger(X, y, 0.01, features, rng, jitter=0.05)
    assert poisoned.sum() == 2
    report = pw.screen(Xp, yp, random_state=seed)
    assert np.array_equal(_mask(report.backdoor_suspects, yp.size), poisoned)
    assert [sorted(t["features"]) for t in report.triggers] == [features]


def test_clean_data_has_no_backdoor():
    """No trigger on the labels as shipped nor with 5% or 20% random flips, on the real sets
    and a synthetic one, whatever the fold split. (At 20%, seed 2, two flipped breast cancer
    rows share extreme radius, perimeter and area: correlated features, one coincidence.)"""
    from sklearn.datasets import make_classification

    sets = [loader(return_X_y=True) for loader in SKLEARN_SETS.values()]
    sets.append(make_classification(1500, 5, n_informative=3, n_redundant=0, n_classes=3,
                                    n_clusters_per_class=2, random_state=3))
    for X, y in sets:
        for seed, rate in [(0, 0.0), (1, 0.05), (2, 0.2)]:
            noisy, _ = flip_at_random(y, rate, np.random.default_rng(seed))
            report = pw.screen(X, noisy, random_state=seed)
            assert report.triggers == [] and report.backdoor_suspects.size == 0


def test_cli_fdr_and_skops_estimator(tmp_path, capsys):
    sio = pytest.importorskip("skops.io")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    noisy, flipped = flip_at_random(y, 0.15, np.random.default_rng(0))
    np.save(tmp_path / "wine.npy", np.column_stack([X, noisy]))
    model = tmp_path / "model.skops"
    sio.dump(make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), model)
    code = main(["screen", str(tmp_path / "wine.npy"), "--labels", "-1", "--fdr", "0.1",
                 "--estimator", str(model), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 1 and result["fdr"] == 0.1
    found = _mask(result["label_suspects"], y.size)
    assert found.sum() >= 10 and (found & ~flipped).sum() <= 0.2 * found.sum()
    assert all("label" in result["reasons"][str(i)] for i in result["label_suspects"])
    bad = str(tmp_path / "wine.npy")
    assert main(["screen", bad, "--labels", "-1", "--fdr", "1.5"]) == 2
    assert main(["screen", bad, "--fdr", "0.1"]) == 2  # no labels to judge
    assert main(["screen", bad, "--labels", "-1", "--estimator", bad]) == 2  # not skops
    assert main(["screen", bad, "--labels", "-1", "--estimator", str(tmp_path / "no")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error:") == 4


# --- the label model and the outlier model against plain references -----------------------

def _reference_oof_lda(Z, codes, K, fold, exclude):
    """Out-of-fold LDA written plainly: standardise, per fold fit class means and the pooled
    within-class covariance (ddof K) on the other folds, shrink it with OAS, score by Bayes."""
    from pipeward.outliers.detector import _oas

    S = (Z - Z.mean(axis=0)) / Z.std(axis=0)
    P = np.empty((Z.shape[0], K))
    for f in range(fold.max() + 1):
        train = (fold != f) & ~exclude
        means = np.stack([S[train & (codes == k)].mean(axis=0) for k in range(K)])
        R = S[train] - means[codes[train]]
        cov = _oas(R.T @ R / (train.sum() - K), int(train.sum()))
        prec = np.linalg.inv(cov)
        test = fold == f
        diff = S[test][:, None, :] - means[None, :, :]
        d2 = np.einsum("nkd,de,nke->nk", diff, prec, diff)
        logp = np.log(np.bincount(codes[train], minlength=K) / train.sum()) - 0.5 * d2
        logp -= logp.max(axis=1, keepdims=True)
        P[test] = np.exp(logp) / np.exp(logp).sum(axis=1, keepdims=True)
    return P


@settings(max_examples=25, deadline=None)
@given(n=st.integers(40, 300), d=st.integers(1, 8), K=st.integers(2, 4),
       seed=st.integers(0, 2**16), dtype=st.sampled_from([np.float64, np.float32]))
def test_out_of_fold_gaussian_model_matches_its_reference(n, d, K, seed, dtype):
    from pipeward.outliers import labels as lab
    from pipeward.outliers.kernel import comoment_of_rows

    rng = np.random.default_rng(seed)
    codes = np.arange(n) % K
    Z = (rng.normal(size=(n, d)) * rng.uniform(0.1, 50, d) + rng.normal(0, 100, d)
         + codes[:, None]).astype(dtype)
    fold = lab.stratified_folds(codes, K, 3, rng)
    exclude = rng.random(n) < 0.1
    count, shift, m2 = comoment_of_rows(Z, None)
    ours = lab.gaussian_probabilities(Z, codes, K, fold, exclude, None, shift=shift,
                                      scale=np.sqrt(np.diag(m2) / count))
    expected = _reference_oof_lda(Z.astype(np.float64), codes, K, fold, exclude)
    np.testing.assert_allclose(ours, expected, atol=1e-6 if dtype == np.float32 else 1e-9)


@pytest.mark.parametrize("method", ["empirical", "oas", "ledoit_wolf", "mcd"])
def test_outlier_model_matches_the_detector(method, rng):
    """The screen's class model from per-class comoments gives the distances of
    ClassConditionalDetector(method).fit(X, y) (its reference, checked against scikit-learn)."""
    from pipeward.outliers import labels as lab
    from pipeward.outliers.screen import _class_model

    codes = rng.integers(0, 3, 1500)
    Z = rng.normal(size=(1500, 5)) * [1, 2, 3, 100, 0.1] + 1000 + 2.0 * codes[:, None]
    keep = rng.random(1500) > 0.1
    locations, factor = _class_model(Z, codes, 3, keep, dict(method=method, random_state=0,
                                                             workers=None))
    centre = locations.mean(axis=0)
    d2 = lab.distances_to_whitened((Z - centre) @ factor, (locations - centre) @ factor)
    det = pw.ClassConditionalDetector(method, random_state=0).fit(Z[keep], codes[keep])
    np.testing.assert_allclose(d2.min(axis=1), det.mahalanobis(Z), rtol=1e-9, atol=1e-9)


def test_confident_joint_and_pruning_match_cleanlab():
    """The per-class thresholds, the calibrated confident joint and the noise-rate pruning
    against cleanlab's own functions on the same probabilities."""
    count = pytest.importorskip("cleanlab.count")
    filt = pytest.importorskip("cleanlab.filter")
    from pipeward.outliers import labels as lab

    rng = np.random.default_rng(0)
    K, n = 4, 2000
    truth = rng.integers(0, K, n)
    logits = rng.normal(size=(n, K)) + 3.0 * np.eye(K)[truth]
    P = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    noisy, _ = flip_at_random(truth, 0.1, rng)
    ours = lab.confident_joint(noisy, P)
    peer = count.compute_confident_joint(noisy, P, calibrate=True)
    np.testing.assert_allclose(ours, peer, atol=1.0)  # cleanlab rounds its counts
    flagged = lab.prune_by_noise_rate(noisy, P, ours)
    theirs = np.asarray(filt.find_label_issues(noisy, P, filter_by="prune_by_noise_rate"))
    assert (flagged != theirs).sum() <= 0.01 * n


@pytest.mark.parametrize("workers", [1, 2])
def test_blocked_scoring_matches_whole_array_maths(workers, rng, monkeypatch):
    """With blocks of 7 rows (many blocks, on one or two threads) the blocked passes give the
    whole-array results: out-of-fold posteriors, least whitened distances, the Ledoit-Wolf
    fourth moment and the per-group row lists."""
    from pipeward.outliers import labels as lab

    monkeypatch.setattr(lab, "ROW_BLOCK", 7)
    n, d, K = 250, 4, 3
    codes = rng.integers(0, K, n)
    Z = rng.normal(size=(n, d)) * [1, 5, 0.2, 30] + 100 + codes[:, None]
    fold = lab.stratified_folds(codes, K, 3, rng)
    exclude = rng.random(n) < 0.1
    count, shift, m2 = lab.comoment_of_rows(Z, None)
    P = lab.gaussian_probabilities(Z, codes, K, fold, exclude, workers, shift=shift,
                                   scale=np.sqrt(np.diag(m2) / count))
    np.testing.assert_allclose(P, _reference_oof_lda(Z, codes, K, fold, exclude), atol=1e-9)
    locations = np.stack([Z[codes == k].mean(axis=0) for k in range(K)])
    factor = rng.normal(size=(d, d))
    centre = locations.mean(axis=0)
    whole = lab.distances_to_whitened((Z - centre) @ factor, (locations - centre) @ factor)
    np.testing.assert_allclose(lab.whitened_min_distances(Z, centre, factor, locations, workers),
                               whole.min(axis=1), rtol=1e-12)
    keep = ~exclude
    r = Z[keep] - locations[codes[keep]]
    np.testing.assert_allclose(lab.residual_fourth_moment(Z, codes, keep, locations, workers),
                               float((np.einsum("ij,ij->i", r, r) ** 2).sum()), rtol=1e-12)
    groups = lab.rows_by_group(fold * K + codes, 3 * K, keep)
    for g, rows in enumerate(groups):
        np.testing.assert_array_equal(rows, np.flatnonzero(keep & (fold * K + codes == g)))


def test_spectral_signature_matches_the_singular_vector_of_the_whitened_rows(rng, monkeypatch):
    """The closed-form scatter (comoment + robust centre) and the blocked projection give the
    squared projections on each class's top right singular vector of its explicitly whitened,
    median-centred rows; a planted cluster is flagged in its class only."""
    from pipeward.outliers import labels as lab
    from pipeward.outliers.backdoor import robust_z, spectral_signatures

    monkeypatch.setattr(lab, "ROW_BLOCK", 11)
    n, d = 600, 5
    codes = rng.integers(0, 3, n)
    Z = rng.normal(size=(n, d)) * [1, 3, 0.5, 2, 1] + 50
    planted = np.flatnonzero(codes == 1)[:30]
    Z[planted, 2] += 40.0
    factor = np.linalg.cholesky(np.linalg.inv(np.cov(Z.T)))
    centre = Z.mean(axis=0)
    scores, flagged = spectral_signatures(Z, centre, factor, codes, 6.0, 20, 2)
    for k in range(3):
        rows = np.flatnonzero(codes == k)
        W = (Z[rows] - centre) @ factor
        R = W - np.median(W, axis=0)
        top = np.linalg.svd(R, full_matrices=False)[2][0]
        np.testing.assert_allclose(scores[rows], (R @ top) ** 2, rtol=1e-8, atol=1e-9)
        far = np.abs(robust_z(R @ top)) > 6.0
        np.testing.assert_array_equal(flagged[rows], far if far.sum() >= 20 else False)
    assert set(np.flatnonzero(flagged)) == set(planted)


def test_trusted_rows_are_unknown_to_the_fits():
    """The calibration is exact only if the trusted rows' scores are exchangeable with the
    rightly labelled untrusted rows': the fits must not learn which rows are trusted. So
    every fitted quantity (label_wrong, from the last fit) is the same with two different
    trusted samples and with none. screen21f set the first round's suspects aside by the
    trusted p-values and never set a trusted row aside, so the refit depended on them."""
    X, y = load_digits(return_X_y=True)
    noisy, _, first = _with_trusted(y, 0.1, 0.25, 0)
    second = np.zeros(y.size, dtype=bool)
    second[np.random.default_rng(7).choice(y.size, y.size // 4, replace=False)] = True
    second &= noisy == y  # rows whose labels a check would confirm
    blind = pw.screen(X, noisy, fdr=0.1)
    for trusted in (first, second):
        report = pw.screen(X, noisy, fdr=0.1, trusted=trusted)
        assert np.array_equal(report.label_wrong, blind.label_wrong)
        assert np.array_equal(report.outliers, blind.outliers)
        assert report.label_suspects.size > 0


def test_report_says_which_fdr_guarantee_it_has(tmp_path, capsys):
    """fdr_calibration: 'trusted' (guaranteed by the checked labels), 'heuristic' (fdr=
    without them) or None (no label fdr=); to_dict(), the CLI's text and JSON output and the
    HTML report carry it in one line."""
    X, y = load_wine(return_X_y=True)
    trusted = np.zeros(y.size, dtype=bool)
    trusted[::3] = True
    guaranteed = pw.screen(X, y, fdr=0.1, trusted=trusted)
    assert guaranteed.fdr_calibration == "trusted"
    assert guaranteed.fdr_note() == f"FDR 0.1 guaranteed by {int(trusted.sum())} checked labels"
    estimated = pw.screen(X, y, fdr=0.1)
    assert estimated.fdr_calibration == "heuristic"
    assert estimated.fdr_note().startswith("FDR 0.1 estimated without checked labels: not "
                                           "guaranteed where classes overlap")
    for report in (pw.screen(X, y), pw.screen(X, y, trusted=trusted), pw.screen(X, fdr=0.1)):
        assert report.fdr_calibration is None and report.fdr_note() is None
    assert estimated.to_dict()["fdr_calibration"] == "heuristic"
    assert guaranteed.to_dict()["fdr_calibration"] == "trusted"

    np.save(tmp_path / "X.npy", np.column_stack([X, y]))
    np.save(tmp_path / "rows.npy", np.flatnonzero(trusted))
    data = [str(tmp_path / "X.npy"), "--labels", "-1", "--fdr", "0.1"]
    main(["screen", *data, "--trusted", str(tmp_path / "rows.npy")])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == guaranteed.fdr_note()
    main(["screen", *data])
    assert capsys.readouterr().out.splitlines()[1] == estimated.fdr_note()
    main(["screen", *data, "--json"])
    (tmp_path / "s.json").write_text(capsys.readouterr().out)
    assert main(["report", "--screen", str(tmp_path / "s.json"), "-o",
                 str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text()
    assert "label false-discovery rate</th><td>FDR 0.1 estimated without checked labels" in page
    bad = json.loads((tmp_path / "s.json").read_text()) | {"fdr_calibration": "hope"}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert main(["report", "--screen", str(tmp_path / "bad.json"), "-o",
                 str(tmp_path / "r.html")]) == 2
    assert "fdr_calibration must be 'trusted' or 'heuristic'" in capsys.readouterr().err
