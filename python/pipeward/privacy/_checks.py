"""Argument checks shared by the privacy functions: a clear ValueError/TypeError that says
what was expected and what arrived."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if math.isnan(v):
        raise ValueError(f"{name} must be a number, got NaN")
    return v


def positive(value: Any, name: str) -> float:
    v = real(value, name)
    if not (0 < v < math.inf):
        raise ValueError(f"{name} must be positive and finite, got {v}")
    return v


def noise_multiplier(value: Any) -> float:
    v = real(value, "noise_multiplier")
    if not (0 <= v < math.inf):
        raise ValueError(f"noise_multiplier must be >= 0 and finite, got {v}")
    return v


def sample_rate(value: Any) -> float:
    v = real(value, "sample_rate")
    if not (0 < v <= 1):
        raise ValueError(f"sample_rate must be in (0, 1], got {v}")
    return v


def delta(value: Any) -> float:
    v = real(value, "delta")
    if not (0 < v < 1):
        raise ValueError(f"delta must be in (0, 1), got {v}")
    return v


def steps(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"steps must be an integer, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"steps must be >= 0, got {value}")
    return int(value)
