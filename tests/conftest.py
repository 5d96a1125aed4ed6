"""Shared test machinery: hypothesis profiles, every CPU kernel path, GPU skips."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from pipeward import _core

settings.register_profile(
    "default", deadline=None, max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "ci", deadline=None, max_examples=60, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Under the sanitizers everything runs ~5x slower; fewer examples keep that job short.
settings.register_profile(
    "sanitize", deadline=None, max_examples=15, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

ISAS = list(_core.enabled_isas())


def isa_fixture(skip: tuple[str, ...] = ()):
    """A fixture that runs a test once per CPU kernel variant, less the ``skip``-ped ones (a
    family whose kernels have no such build, e.g. ``sha_ni`` outside SHA-256)."""

    @pytest.fixture(params=[i for i in ISAS if i not in skip])
    def isa(request):
        before = _core.isa_limit()
        _core.set_isa_limit(request.param)
        try:
            yield request.param
        finally:
            _core.set_isa_limit(before)

    return isa


# Run the test once for every CPU kernel variant this machine has (best ... portable).
isa = isa_fixture()


def _gpu_reason() -> str | None:
    try:
        import cupy as cp
    except ImportError:
        return "CuPy is not installed (pip install pipeward[gpu])"
    try:
        if cp.cuda.runtime.getDeviceCount() < 1:
            return "no CUDA device"
    except Exception as exc:  # noqa: BLE001
        return f"no usable CUDA device: {exc}"
    return None


GPU_SKIP_REASON = _gpu_reason()
requires_gpu = pytest.mark.skipif(GPU_SKIP_REASON is not None, reason=GPU_SKIP_REASON or "")


@pytest.fixture(scope="module")
def cp():
    """CuPy, for tests marked ``requires_gpu`` (imported only when such a test runs)."""
    import cupy

    return cupy


@pytest.fixture
def rng():
    return np.random.default_rng(20261126)
