"""The hand-written stub file must describe the compiled module exactly (no drift)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pipeward
from pipeward import _core

pytestmark = pytest.mark.native

STUB = Path(pipeward.__file__).with_name("_core.pyi")


def _stub_names() -> set[str]:
    tree = ast.parse(STUB.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _module_names() -> set[str]:
    return {n for n in dir(_core) if not n.startswith("__") or n == "__version__"} - {"_InvalidArgument"}


def test_every_stub_name_exists_in_the_module():
    assert _stub_names() - _module_names() == set()


def test_every_module_name_has_a_stub():
    assert _module_names() - _stub_names() == set()


def test_capabilities_reports_the_portable_path():
    caps = pipeward.capabilities()
    assert caps["isa"][-1] == "portable"
    assert caps["threads"] >= 1
    assert set(caps["cpu_features"]) >= {"sha_ni", "avx2", "avx512"}


def test_isa_limit_caps_the_variants():
    before = _core.isa_limit()
    try:
        _core.set_isa_limit("portable")
        assert _core.enabled_isas() == ["portable"]
    finally:
        _core.set_isa_limit(before)


def test_unknown_isa_limit_is_a_value_error():
    import pytest

    with pytest.raises(ValueError, match="unknown instruction-set limit"):
        _core.set_isa_limit("sse9")


def test_kernels_accept_equal_dtypes_and_reject_byte_swapped_arrays():
    """dtype checks compare by value: unpickled arrays pass, non-native byte order does not."""
    import pickle

    import numpy as np

    import pipeward as pw

    rng = np.random.default_rng(0)
    X = pickle.loads(pickle.dumps(rng.normal(size=(50, 3))))
    loc, prec = np.zeros(3), np.eye(3)
    np.testing.assert_allclose(pw.mahalanobis(X, loc, prec), (X**2).sum(axis=1), rtol=1e-12)
    swapped = X.astype(X.dtype.newbyteorder(">"))
    with pytest.raises(TypeError):
        pw.mahalanobis(swapped, loc, prec)
