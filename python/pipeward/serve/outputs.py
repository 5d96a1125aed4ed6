"""Output hardening: what a caller learns from an answer, reduced to what the policy allows.

Probabilities can be perturbed by Gaussian noise (seeded by a keyed hash of the row, so the
same input always gets the same noise and repeating a query averages nothing out; the top
class never changes), cut to the top k classes (the rest reported as 0) and rounded.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .policy import OutputRules

__all__ = ["harden_probabilities"]


def harden_probabilities(P: np.ndarray, X: np.ndarray, rules: OutputRules, noise_key: bytes) -> np.ndarray:
    """The probabilities (rows, classes) as the policy lets a caller see them."""
    P = np.array(P, dtype=np.float64)
    if rules.noise > 0:
        top = P.argmax(axis=1)
        rows = np.ascontiguousarray(np.asarray(X, dtype=np.float64) + 0.0)
        for i in range(P.shape[0]):
            seed = hashlib.blake2b(rows[i].tobytes(), key=noise_key, digest_size=8,
                                   person=b"pipeward-noise").digest()
            P[i] += np.random.default_rng(int.from_bytes(seed, "little")).normal(0.0, rules.noise, P.shape[1])
        np.clip(P, 0.0, None, out=P)
        P /= np.maximum(P.sum(axis=1, keepdims=True), 1e-300)
        moved = np.flatnonzero(P.argmax(axis=1) != top)
        for i in moved:  # the noise may blur confidence, never flip the answer
            j = int(P[i].argmax())
            P[i, [j, top[i]]] = P[i, [top[i], j]]
    if 0 < rules.top_k < P.shape[1]:
        cut = np.argsort(-P, axis=1, kind="stable")[:, rules.top_k:]
        np.put_along_axis(P, cut, 0.0, axis=1)
    if rules.round >= 0:
        P = np.round(P, rules.round)
    return P
