"""pipeward's core needs NumPy and cryptography only: importing it and running its CPU paths
must not pull in the peers that live in the test extras."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

OPTIONAL = ("scipy", "sklearn", "torch", "pandas", "pyarrow", "cupy", "opacus", "dp_accounting", "dask")


def test_import_and_core_paths_load_no_optional_package():
    code = f"""
import sys
import numpy as np
import pipeward as pw
rng = np.random.default_rng(0)
X = rng.normal(size=(300, 4))
pw.ks_2samp(X[:150], X[150:])
pw.psi(X[:150], X[150:])
pw.DriftMonitor(X[:150]).check(X[150:])
pw.clip_and_noise(X.astype(np.float32), 1.0, 1.0, seed=0)
pw.epsilon(1.0, 0.01, 100, 1e-5)
pw.epsilon(2.0, 0.1, 3, 1e-5, accountant="pld")
pw.MahalanobisDetector(method="mcd", random_state=0).fit(X).predict(X)
pw.screen(X, (X[:, 0] > 0).astype(int))
pw.sha256(b"x")
loaded = sorted(m for m in {OPTIONAL!r} if m in sys.modules)
print(",".join(loaded))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"optional packages imported by the core: {out.stdout}"


def test_pld_helpers_match_scipy():
    lfilter = pytest.importorskip("scipy.signal").lfilter
    ndtr = pytest.importorskip("scipy.special").ndtr
    from pipeward.privacy.accountant_pld import _discounted_tail, _ndtr

    rng = np.random.default_rng(1)
    for n, d in [(1, 1e-4), (2, 0.5), (1000, 1e-4), (5000, 0.5), (20000, 0.05), (300, 700.0)]:
        p = rng.random(n) * rng.random(n) ** 8
        decay = math.exp(-d)
        expected = lfilter([decay], [1.0, -decay], np.concatenate(([0.0], p[::-1][:-1])))[::-1]
        np.testing.assert_allclose(_discounted_tail(p, decay), expected, rtol=1e-12, atol=1e-300)
    x = np.linspace(-35, 9, 2001)
    np.testing.assert_allclose(_ndtr(x), ndtr(x), rtol=1e-9, atol=0)
