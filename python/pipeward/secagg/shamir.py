"""Shamir t-of-n secret sharing of 32-byte secrets over the prime field GF(2^521 - 1).

The prime exceeds every 256-bit secret, so a secret is one field element. Any ``threshold``
shares give it back by Lagrange interpolation at 0; fewer are consistent with every secret,
so they tell nothing about it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

PRIME = 2**521 - 1  # a Mersenne prime
SECRET_BYTES = 32
SHARE_BYTES = 66  # ceil(521 / 8)


@dataclass(frozen=True)
class Share:
    """The point (x, y) of the sharing polynomial, with the threshold it was made for."""

    x: int
    y: int
    threshold: int

    def to_bytes(self) -> bytes:
        return (self.x.to_bytes(2, "big") + self.threshold.to_bytes(2, "big")
                + self.y.to_bytes(SHARE_BYTES, "big"))

    @classmethod
    def from_bytes(cls, data: bytes) -> Share:
        if len(data) != 4 + SHARE_BYTES:
            raise ValueError(f"share: expected {4 + SHARE_BYTES} bytes, got {len(data)}")
        return cls(int.from_bytes(data[:2], "big"), int.from_bytes(data[4:], "big"),
                   int.from_bytes(data[2:4], "big"))


def split(secret: bytes, threshold: int, xs: list[int]) -> list[Share]:
    """Shares of ``secret`` at the points ``xs`` (distinct, 1..65535); ``threshold`` recover it."""
    if not isinstance(secret, bytes) or len(secret) != SECRET_BYTES:
        raise ValueError(f"secret: expected {SECRET_BYTES} bytes, got {secret!r:.40}")
    if len(set(xs)) != len(xs) or any(not 1 <= x < 2**16 for x in xs):
        raise ValueError(f"xs: expected distinct integers in 1..65535, got {xs!r}")
    if not 1 <= threshold <= len(xs):
        raise ValueError(f"threshold: expected 1..{len(xs)} (the number of shares), got {threshold}")
    coefficients = [int.from_bytes(secret, "big")]
    coefficients += [secrets.randbelow(PRIME) for _ in range(threshold - 1)]
    return [Share(x, _evaluate(coefficients, x), threshold) for x in xs]


def combine(shares: list[Share]) -> bytes:
    """The secret from at least ``threshold`` shares with distinct x; fewer is a ValueError."""
    if not shares:
        raise ValueError("shares: expected at least one share, got none")
    threshold = shares[0].threshold
    if any(s.threshold != threshold for s in shares):
        raise ValueError("shares: they come from sharings with different thresholds")
    by_x = {s.x: s.y for s in shares}
    if len(by_x) < threshold:
        raise ValueError(f"shares: {len(by_x)} distinct shares, the threshold is {threshold}")
    points = list(by_x.items())[:threshold]
    secret = interpolate_at_zero(points)
    if secret >= 2 ** (8 * SECRET_BYTES):
        raise ValueError("shares: inconsistent (the interpolated value is not a 32-byte secret)")
    return secret.to_bytes(SECRET_BYTES, "big")


def interpolate_at_zero(points: list[tuple[int, int]]) -> int:
    """p(0) for the polynomial of degree < len(points) through ``points``, in GF(PRIME)."""
    total = 0
    for i, (xi, yi) in enumerate(points):
        num, den = 1, 1
        for j, (xj, _) in enumerate(points):
            if j != i:
                num = num * -xj % PRIME
                den = den * (xi - xj) % PRIME
        total = (total + yi * num * pow(den, -1, PRIME)) % PRIME
    return total


def _evaluate(coefficients: list[int], x: int) -> int:
    y = 0
    for c in reversed(coefficients):  # Horner
        y = (y * x + c) % PRIME
    return y
