"""The federation of the Flower tests: softmax regression on scikit-learn's digits, split across
10 clients of which 7, 8 and 9 are Byzantine, and the attacks those three mount."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

CLIENTS = 10
BYZANTINE = (7, 8, 9)
ATTACKS = ("sign_flip", "noise", "alie", "alie_strong")
# "A little is enough" (Baruch et al. 2019): the colluders send mean - z * std of their own
# honest updates. The paper's z is the largest that still looks like a majority's value:
# z_max = Phi^-1((n - s) / n), s = floor(n / 2 + 1) - m; 0.52 for n = 10, m = 3. Softmax
# regression on digits shrugs that off under every rule, FedAvg included, so "alie_strong"
# scales the same direction up (z = 50) until FedAvg collapses.
ALIE_Z = {"alie": NormalDist().inv_cdf((CLIENTS - (CLIENTS // 2 + 1 - len(BYZANTINE))) / CLIENTS),
          "alie_strong": 50.0}


def digits():
    """(x_train, y_train, x_test, y_test), features in [0, 1], float32; 1,400 training rows."""
    from sklearn.datasets import load_digits  # noqa: PLC0415 - the peer processes need none

    x, y = load_digits(return_X_y=True)
    perm = np.random.default_rng(0).permutation(len(x))
    x, y = (x / 16.0)[perm].astype(np.float32), y[perm]
    return x[:1400], y[:1400], x[1400:], y[1400:]


def shard(cid, n=1400):
    """Row indices of client ``cid``'s local data."""
    return np.array_split(np.arange(n), CLIENTS)[cid]


def local_fit(w, b, xs, ys, epochs=20, lr=0.5):
    """``epochs`` full-batch gradient steps of softmax regression from (w, b)."""
    w, b = w.copy(), b.copy()
    for _ in range(epochs):
        z = xs @ w + b
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        p[np.arange(len(ys)), ys] -= 1
        w -= lr * (xs.T @ p / len(ys)).astype(np.float32)
        b -= lr * p.mean(0).astype(np.float32)
    return w, b


def accuracy(w, b, xs, ys):
    return float(((xs @ w + b).argmax(1) == ys).mean())


def byzantine_updates(attack, w, b, x, y, rng):
    """The three Byzantine clients' models for one round from the global (w, b): each trains
    honestly on its own shard, then ``attack`` replaces what it sends ("clean": nothing)."""
    honest = [local_fit(w, b, x[shard(c)], y[shard(c)]) for c in BYZANTINE]
    if attack == "clean":
        return honest
    deltas = [np.concatenate([(cw - w).ravel(), cb - b]) for cw, cb in honest]
    if attack == "sign_flip":  # flip and amplify the honest change
        sent = [-4 * d for d in deltas]
    elif attack == "noise":
        sent = [rng.normal(0, 5, d.shape) for d in deltas]
    elif attack in ALIE_Z:  # the colluders agree on one vector
        d = np.stack(deltas)
        sent = [d.mean(0) - ALIE_Z[attack] * d.std(0)] * len(BYZANTINE)
    else:
        raise ValueError(f"unknown attack {attack!r}")
    return [(w + s[:w.size].reshape(w.shape).astype(np.float32),
             b + s[w.size:].astype(np.float32)) for s in sent]
