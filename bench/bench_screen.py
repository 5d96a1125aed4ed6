"""Poisoning-screen benchmarks: pipeward's label-flip screen vs confident learning.

Speed (pytest-benchmark, one group per size; the peer is cleanlab's ``find_label_issues`` on
5-fold cross-validated probabilities of a standardised logistic regression, the
cross-validation included since the screen does its own):

    pytest bench/bench_screen.py --benchmark-only --benchmark-min-rounds=1
    PIPEWARD_BENCH_ROWS=1000000 pytest bench/bench_screen.py -k pipeward --benchmark-only

Quality (a table for bench/RESULTS.md: label-flip F1 against cleanlab on the same rows and
flips, the realised FDR at fdr=0.1, and tabular backdoors; every data set the issue names at
1-20% random flips and 5% boundary flips; ``--no-fdr`` leaves out the fdr=0.1 runs):

    python bench/bench_screen.py --seeds 3
    python bench/bench_screen.py --seeds 10 --only labels --no-fdr

The guaranteed mode (``trusted=``: a random 10% / 25% of the rows, labels checked, calibrate
the p-values; the realised FDP at fdr=0.1 per run, its mean and standard error over seeds):

    python bench/bench_screen.py --seeds 10 --only trusted
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pytest

import pipeward as pw
from pipeward.demo.attacks import flip_at_random, plant_trigger

ROWS = int(os.environ.get("PIPEWARD_BENCH_ROWS", "50000"))
FEATURES, CLASSES = 50, 10


def gaussian_classes(n: int, d: int = FEATURES, k: int = CLASSES, noise: float = 0.05,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k Gaussian classes in d dimensions with `noise` of the labels flipped at random."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.0, (k, d))
    y = rng.integers(0, k, n)
    X = centres[y] + rng.normal(size=(n, d))
    flipped = rng.random(n) < noise
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.integers(1, k, int(flipped.sum()))) % k
    return X, noisy, flipped


def confident_learning(X: np.ndarray, y: np.ndarray, seed: int = 0) -> np.ndarray:
    """The peer: cleanlab on 5-fold probabilities of a standardised logistic regression."""
    from cleanlab.filter import find_label_issues
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    P = cross_val_predict(model, X, y, cv=StratifiedKFold(5, shuffle=True, random_state=seed),
                          method="predict_proba")
    return np.asarray(find_label_issues(y, P))


@pytest.fixture(scope="module")
def data():
    return gaussian_classes(ROWS)


def _f1(found: np.ndarray, truth: np.ndarray) -> float:
    return 2.0 * float((found & truth).sum()) / max(int(found.sum() + truth.sum()), 1)


@pytest.mark.benchmark(group=f"screen-{ROWS}x{FEATURES}-{CLASSES}-classes")
def test_screen_pipeward(benchmark, data):
    X, y, flipped = data
    report = benchmark.pedantic(pw.screen, args=(X, y), rounds=1, iterations=1)
    found = np.zeros(y.size, dtype=bool)
    found[report.label_suspects] = True
    benchmark.extra_info["f1"] = _f1(found, flipped)


@pytest.mark.benchmark(group=f"screen-{ROWS}x{FEATURES}-{CLASSES}-classes")
def test_screen_cleanlab_with_cross_validation(benchmark, data):
    pytest.importorskip("cleanlab")
    X, y, flipped = data
    found = benchmark.pedantic(confident_learning, args=(X, y), rounds=1, iterations=1)
    benchmark.extra_info["f1"] = _f1(found, flipped)


# --- the quality table ----------------------------------------------------------------------

def _flip_targeted(X: np.ndarray, y: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Flip the rows nearest the boundary: the smallest margin between the two most likely
    classes of a logistic regression fitted on all the clean labels, relabelled to the
    runner-up."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
    P = model.predict_proba(X)
    order = np.argsort(P, axis=1)
    margin = P[np.arange(y.size), order[:, -1]] - P[np.arange(y.size), order[:, -2]]
    rows = np.argsort(margin)[: int(round(rate * y.size))]
    y = y.copy()
    own = np.searchsorted(model.classes_, y[rows])
    runner_up = np.where(order[rows, -1] == own, order[rows, -2], order[rows, -1])
    y[rows] = model.classes_[runner_up]
    flipped = np.zeros(y.size, dtype=bool)
    flipped[rows] = True
    return y, flipped


def datasets() -> list[tuple[str, np.ndarray, np.ndarray]]:
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine, make_classification

    out = [(name, *loader(return_X_y=True)) for name, loader in
           [("breast cancer", load_breast_cancer), ("wine", load_wine), ("digits", load_digits)]]
    shapes = [  # (name, rows, features, informative, classes, clusters, separation, weights)
        ("4 classes, 20 features, sep 1.5", 2000, 20, 10, 4, 1, 1.5, None),
        ("2 classes 85/15, 10 features, sep 1", 3000, 10, 5, 2, 1, 1.0, [0.85]),
        ("10 classes, 40 features, sep 2", 3000, 40, 20, 10, 1, 2.0, None),
        ("3 classes x 2 clusters, 5 features, sep 1", 1500, 5, 3, 3, 2, 1.0, None),
        ("2 classes, 100 features, sep 2", 4000, 100, 10, 2, 2, 2.0, None),
    ]
    for seed, (name, n, d, inf, k, clusters, sep, weights) in enumerate(shapes):
        X, y = make_classification(n, d, n_informative=inf, n_redundant=0, n_classes=k,
                                   n_clusters_per_class=clusters, class_sep=sep,
                                   weights=weights, random_state=seed)
        out.append((name, X, y))
    return out


def quality_table(seeds: int, with_fdr: bool = True) -> None:
    print("| data | flips | pipeward F1 (P / R) | cleanlab F1 (P / R) | fdr=0.1: flagged, "
          "realised FDR (bound) |")
    print("|---|---|---|---|---|")
    for name, X, y in datasets():
        for kind, rate in [("random", 0.0), ("random", 0.01), ("random", 0.05), ("random", 0.1),
                           ("random", 0.2), ("boundary", 0.05)]:
            ours, peer, false, flagged = [], [], 0, 0
            for seed in range(seeds):
                if kind == "random":
                    noisy, truth = flip_at_random(y, rate, np.random.default_rng(seed))
                else:
                    noisy, truth = _flip_targeted(X, y, rate)
                found = np.zeros(y.size, dtype=bool)
                found[pw.screen(X, noisy, random_state=seed).label_suspects] = True
                ours.append(_scores(found, truth))
                if rate > 0:
                    peer.append(_scores(confident_learning(X, noisy, seed), truth))
                if with_fdr:
                    at_fdr = np.zeros(y.size, dtype=bool)
                    at_fdr[pw.screen(X, noisy, fdr=0.1, random_state=seed).label_suspects] = True
                    false += int((at_fdr & ~truth).sum())
                    flagged += int(at_fdr.sum())
                if kind == "boundary":
                    break  # deterministic flips: one run
            fdr = false / max(flagged, 1)
            bound = 0.1 + 2.0 * np.sqrt(0.09 / max(flagged, 1))
            at_rate = (f"{flagged}, {fdr:.3f} ({bound:.3f}{'' if fdr <= bound else ', exceeded'})"
                       if with_fdr else "-")
            print(f"| {name} | {kind} {rate:.0%} | {_fmt(ours) if rate else '-'} | "
                  f"{_fmt(peer) if peer else '-'} | {at_rate} |", flush=True)


def trusted_table(seeds: int, shares: tuple[float, ...] = (0.1, 0.25)) -> None:
    """fdr=0.1 with ``trusted=`` a random share of the rows whose labels were checked (set
    back to the truth); random flips as in the quality table. The guarantee is on the
    expected FDP, so the table gives the mean over seeds with its standard error, beside
    the pooled share (false / flagged over all seeds) and the recall of the untrusted flips."""
    print("| data | trusted | flips | flagged (all seeds) | mean FDP +- se | pooled FDP | recall |")
    print("|---|---|---|---|---|---|---|")
    for name, X, y in datasets():
        for share in shares:
            for rate in (0.0, 0.01, 0.05, 0.1, 0.2):
                flagged, false, fdps, recalls = 0, 0, [], []
                for seed in range(seeds):
                    noisy, truth = flip_at_random(y, rate, np.random.default_rng(seed))
                    trusted = np.zeros(y.size, dtype=bool)
                    trusted[np.random.default_rng(1000 + seed).choice(
                        y.size, int(share * y.size), replace=False)] = True
                    noisy[trusted] = y[trusted]
                    truth &= ~trusted
                    found = np.zeros(y.size, dtype=bool)
                    found[pw.screen(X, noisy, fdr=0.1, trusted=trusted,
                                    random_state=seed).label_suspects] = True
                    flagged += int(found.sum())
                    false += int((found & ~truth).sum())
                    fdps.append((found & ~truth).sum() / max(int(found.sum()), 1))
                    recalls.append((found & truth).sum() / max(int(truth.sum()), 1))
                se = np.std(fdps, ddof=1) / np.sqrt(seeds) if seeds > 1 else float("nan")
                print(f"| {name} | {share:.0%} | {rate:.0%} | {flagged} | {np.mean(fdps):.3f} +- "
                      f"{se:.3f} | {false / max(flagged, 1):.3f} | "
                      f"{np.mean(recalls) if rate else float('nan'):.2f} |", flush=True)


def backdoor_table(seeds: int) -> None:
    print("\n| data | poisoned share | trigger features | recall | precision | features found |")
    print("|---|---|---|---|---|---|")
    for name, X, y in datasets():
        for share in (0.01, 0.03, 0.05):
            recalls, precisions, exact = [], [], 0
            for seed in range(seeds):
                rng = np.random.default_rng(seed)
                features = sorted(rng.choice(X.shape[1], 1 + seed % 3, replace=False).tolist())
                Xp, yp, poisoned = plant_trigger(X, y, share, features, rng, jitter=0.05)
                report = pw.screen(Xp, yp, random_state=seed)
                found = np.zeros(yp.size, dtype=bool)
                found[report.backdoor_suspects] = True
                hits = (found & poisoned).sum()
                recalls.append(hits / poisoned.sum())
                precisions.append(hits / max(found.sum(), 1))
                exact += [sorted(t["features"]) for t in report.triggers] == [features]
            print(f"| {name} | {share:.0%} ({max(1, int(round(share * X.shape[0])))} rows) | "
                  f"1-3 | {np.mean(recalls):.2f} | {np.mean(precisions):.2f} | "
                  f"{exact}/{seeds} exact |", flush=True)


def speed(rows: int) -> None:
    X, y, flipped = gaussian_classes(rows)
    t0, c0 = time.perf_counter(), time.process_time()
    report = pw.screen(X, y)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    found = np.zeros(rows, dtype=bool)
    found[report.label_suspects] = True
    print(f"pipeward.screen {rows} x {FEATURES}, {CLASSES} classes, 5% flips: {wall:.1f} s wall, "
          f"{cpu:.1f} s CPU, F1 {_f1(found, flipped):.3f}; load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)


def _scores(found: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    hits = float((found & truth).sum())
    return (_f1(found, truth), hits / max(int(found.sum()), 1), hits / max(int(truth.sum()), 1))


def _fmt(scores: list[tuple[float, float, float]]) -> str:
    f1, p, r = np.mean(scores, axis=0)
    return f"{f1:.3f} ({p:.2f} / {r:.2f})"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--speed", type=int, metavar="ROWS", help="time one screen of ROWS rows")
    parser.add_argument("--only", choices=["labels", "backdoor", "trusted"])
    parser.add_argument("--no-fdr", action="store_true", help="leave out the fdr=0.1 runs")
    args = parser.parse_args()
    if args.speed:
        speed(args.speed)
    else:
        if args.only in (None, "labels"):
            quality_table(args.seeds, with_fdr=not args.no_fdr)
        if args.only in (None, "backdoor"):
            backdoor_table(args.seeds)
        if args.only in (None, "trusted"):
            trusted_table(args.seeds)
