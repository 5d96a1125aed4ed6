"""The GPU code as far as a machine without a GPU can check it.

* every kernel name a launcher asks for is in its family's kernel table (declared in
  ``pipeward/<family>.hpp``, exported by ``_core.cuda_kernels()``), and every kernel there is
  launched by something (no CuPy); with nvcc, the table is exactly what the ``.cu`` compiles to;
* a GPU array without CuPy is the clear "installed without GPU support" error;
* the ``.cu`` files compile under NVRTC with the run-time options (when libnvrtc is present);
* the device SHA-256 and KS p-value code, which is host/device code, runs on the host (built
  with nvcc when present) and agrees with hashlib and scipy.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pipeward as pw
from pipeward import _backend
from pipeward._gpu import module, nvrtc_check

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("sha256", "drift", "privacy", "mahalanobis", "aggregate")
CUDA_DIR = ROOT / "cuda"


def _launched_kernels(family: str) -> set[str]:
    """Kernel names in ``pipeward/_gpu/<family>.py``: string literals naming a kernel of the
    family, with ``{suffix}`` expanded over the launcher's dtype suffixes."""
    launcher = importlib.import_module(f"pipeward._gpu.{family}")
    text = Path(launcher.__file__).read_text()
    suffixes = sorted(set(getattr(launcher, "_SUFFIX", {}).values())) or [""]
    names = set()
    for literal in re.findall(rf'f?"({family}_[\w{{}}]+)"', text):
        names.update(literal.replace("{suffix}", s) for s in suffixes)
    return names


@pytest.mark.parametrize("family", FAMILIES)
def test_launched_kernels_exist_in_the_cuda_source(family):
    defined = module.kernel_names(family)
    launched = _launched_kernels(family)
    assert launched, f"no kernels found in pipeward/_gpu/{family}.py"
    assert launched - defined == set(), f"launched but not defined in cuda/{family}.cu"
    assert defined - launched == set(), f"defined in cuda/{family}.cu but never launched"


def test_unknown_kernel_family_is_a_clear_error():
    with pytest.raises(ValueError, match="no CUDA kernel family 'demo'"):
        module.kernel_signatures("demo")


class FakeDeviceArray:
    """Looks like a GPU array to the dispatch (it exposes __cuda_array_interface__)."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype, self.ndim = shape, np.dtype(dtype), len(shape)
        self.__cuda_array_interface__ = {"shape": shape, "typestr": self.dtype.str,
                                         "data": (0, False), "version": 3}


@pytest.fixture
def no_cupy(monkeypatch):
    """Make `import cupy` fail, whether or not CuPy is installed here."""
    monkeypatch.setitem(sys.modules, "cupy", None)
    _backend.cupy.cache_clear()
    yield
    _backend.cupy.cache_clear()


def test_gpu_array_without_cupy_is_a_clear_error(no_cupy):
    with pytest.raises(pw.GPUUnavailableError, match="installed without GPU support"):
        pw.sha256_batch(FakeDeviceArray((4, 64), np.uint8))
    with pytest.raises(pw.GPUUnavailableError, match="installed without GPU support"):
        pw.sha256_batch([FakeDeviceArray((10,), np.float32)])
    with pytest.raises(pw.GPUUnavailableError, match="pip install pipeward\\[gpu\\]"):
        dev = FakeDeviceArray((4, 64), np.uint8)
        module.launch("sha256", "sha256_chunks", 1, 1,
                      (dev, np.uint64(4), np.uint64(64), np.uint64(64), dev))


def test_numpy_calls_do_not_need_cupy(no_cupy, rng):
    chunks = rng.integers(0, 256, size=(3, 100), dtype=np.uint8)
    got = pw.sha256_batch(chunks)
    assert isinstance(got, np.ndarray) and got.shape == (3, 32) and got.dtype == np.uint8
    for row, digest in zip(chunks, got):
        assert bytes(digest) == hashlib.sha256(row.tobytes()).digest()


def test_launch_refuses_python_scalars():  # checked before CuPy is imported
    # The width of a Python int in a kernel argument would be a guess; refuse before CuPy.
    class Dev:
        __cuda_array_interface__ = {}

    with pytest.raises(TypeError, match="numpy.uint64"):
        module.launch("sha256", "sha256_chunks", 1, 1, (Dev(), 3, np.uint64(1), np.uint64(1), Dev()))


# ---- NVRTC: the run-time compile, without a GPU -------------------------------------------

NVRTC = nvrtc_check.find_libnvrtc()


def _missing_headers(source: str | Path) -> list[str]:
    """Shared headers that a source (cuda/<family>.cu, or a file path) or a .cuh it includes
    needs but this tree lacks (a kernel family's header not merged yet)."""
    cu = source if isinstance(source, Path) else CUDA_DIR / f"{source}.cu"
    sources = [cu, *(CUDA_DIR / h for h in re.findall(r'#include "(\w+\.cuh)"', cu.read_text()))]
    wanted = {h for src in sources
              for h in re.findall(r'#include "(pipeward/\w+\.hpp)"', src.read_text())}
    return sorted(h for h in wanted if not (ROOT / "cpp" / "include" / h).exists())


@pytest.mark.skipif(NVRTC is None, reason="libnvrtc not found (pip install nvidia-cuda-nvrtc-cu12)")
@pytest.mark.parametrize("family", FAMILIES)
def test_cuda_source_compiles_under_nvrtc(family):
    if missing := _missing_headers(family):
        pytest.skip(f"the kernel family's shared header is not in this tree yet: {missing}")
    ptx = nvrtc_check.compile_source(CUDA_DIR / f"{family}.cu", "compute_80",
                                     module.EXTRA_OPTIONS.get(family, ()))
    for kernel in module.kernel_names(family):
        assert f".entry {kernel}(" in ptx


@pytest.mark.parametrize("family", FAMILIES)
def test_the_kernel_table_is_what_the_cuda_source_compiles_to(family, tmp_path):
    """nvcc builds cuda/<family>.cu, whose static_asserts check every kernel's parameters
    against the table in pipeward/<family>.hpp; its PTX entries are exactly the table's kernels."""
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc not found")
    ptx = tmp_path / f"{family}.ptx"
    run = subprocess.run(["nvcc", "-std=c++17", f"-I{ROOT / 'cpp' / 'include'}", f"-I{CUDA_DIR}",
                          "-arch=compute_80", "--ptx", str(CUDA_DIR / f"{family}.cu"), "-o", str(ptx)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    entries = set(re.findall(r"\.entry\s+(\w+)\(", ptx.read_text()))
    assert entries == module.kernel_names(family)


# ---- device code run on the host ------------------------------------------------------------

NVCC = shutil.which("nvcc")


def _build(tmp_path_factory, source: str) -> Path:
    if NVCC is None:
        pytest.skip("nvcc not found")
    if missing := _missing_headers(ROOT / "tests" / "gpu_host" / source):
        pytest.skip(f"the kernel family's shared header is not in this tree yet: {missing}")
    exe = tmp_path_factory.mktemp("gpu_host") / Path(source).stem
    subprocess.run([NVCC, "-std=c++17", f"-I{ROOT / 'cpp' / 'include'}", f"-I{CUDA_DIR}",
                    str(ROOT / "tests" / "gpu_host" / source), "-o", str(exe)],
                   check=True, capture_output=True)
    return exe


@pytest.fixture(scope="module")
def sha256_on_host(tmp_path_factory):
    return _build(tmp_path_factory, "sha256_on_host.cu")


@pytest.mark.parametrize("offset", [0, 1, 7, 16])
def test_device_sha256_matches_hashlib(sha256_on_host, tmp_path, rng, offset):
    # Every padding case: lengths around the 55/56/64-byte boundaries and a few long messages.
    lengths = [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 4096, 65536]
    lengths += rng.integers(0, 3000, size=20).tolist()
    data = rng.integers(0, 256, size=sum(lengths), dtype=np.uint8).tobytes()
    blob = tmp_path / "messages.bin"
    blob.write_bytes(data)
    out = subprocess.run([str(sha256_on_host), str(blob), str(offset), *map(str, lengths)],
                         check=True, capture_output=True, text=True).stdout.split()
    pos = 0
    for length, digest in zip(lengths, out, strict=True):
        assert digest == hashlib.sha256(data[pos:pos + length]).hexdigest(), length
        pos += length


def test_device_sha256_nist_short_vectors_on_host(sha256_on_host, tmp_path):
    vectors = [(b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
               (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
               (b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")]
    blob = tmp_path / "nist.bin"
    blob.write_bytes(b"".join(m for m, _ in vectors))
    out = subprocess.run([str(sha256_on_host), str(blob), "0", *(str(len(m)) for m, _ in vectors)],
                         check=True, capture_output=True, text=True).stdout.split()
    assert out == [d for _, d in vectors]


@pytest.fixture(scope="module")
def drift_pvalue_on_host(tmp_path_factory):
    return _build(tmp_path_factory, "drift_pvalue_on_host.cu")


def test_device_ks_pvalues_match_scipy(drift_pvalue_on_host, rng):
    stats = pytest.importorskip("scipy.stats")
    cases = []
    for _ in range(200):
        n1, n2 = (int(v) for v in rng.integers(150, 300_000, size=2))
        en = n1 * n2 / (n1 + n2)
        d = abs(rng.normal(0, 1.5 / np.sqrt(en))) if rng.random() < 0.8 else rng.uniform(0, 1)
        cases.append((n1, n2, float(d), int(rng.random() < 0.7)))
    args = [repr(v) if isinstance(v, float) else str(v) for c in cases for v in c]
    out = subprocess.run([str(drift_pvalue_on_host), *args], check=True, capture_output=True,
                         text=True).stdout.split()
    on_device = 0
    for (n1, n2, d, two_sided), text in zip(cases, out, strict=True):
        p = float(text)
        m, n = sorted([float(n1), float(n2)], reverse=True)
        en = m * n / (m + n)
        if two_sided:
            want = stats.kstwo.sf(d, np.round(en))
        else:
            z = np.sqrt(en) * d
            want = np.clip(np.exp(-2 * z**2 - 2 * z * (m + 2 * n) / np.sqrt(m * n * (m + n)) / 3), 0, 1)
        if np.isnan(p):  # left to the host (Durbin's matrix region): only two-sided, small n x^2
            assert two_sided and en * d * d < 2.2
            continue
        on_device += 1
        assert p == pytest.approx(want, rel=1e-7, abs=1e-300)
    assert on_device > 150


# ---- launch arguments against the kernel signatures, statically -----------------------------

_NUMPY_SCALARS = {"int64": "int64_t", "uint64": "uint64_t", "float64": "double", "int32": "int32_t",
                  "uint32": "uint32_t", "float32": "float"}


def _arg_types(node, assignments) -> list[str]:
    """C-side types of a launch's argument tuple: np.X(...) scalars, anything else a pointer."""
    types = []
    for elt in node.elts:
        if isinstance(elt, ast.Starred):
            types += _arg_types(assignments[elt.value.id], assignments)
        elif (isinstance(elt, ast.Call) and isinstance(elt.func, ast.Attribute)
              and isinstance(elt.func.value, ast.Name) and elt.func.value.id == "np"):
            types.append(_NUMPY_SCALARS[elt.func.attr])
        else:
            types.append("ptr")
    return types


def _launch_calls(family: str):
    launcher = importlib.import_module(f"pipeward._gpu.{family}")
    tree = ast.parse(Path(launcher.__file__).read_text())
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef):
            continue
        assignments = {t.id: a.value for a in ast.walk(fn) if isinstance(a, ast.Assign)
                       for t in a.targets if isinstance(t, ast.Name) and isinstance(a.value, ast.Tuple)}
        for call in ast.walk(fn):
            if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "launch"):
                name_node, args_node = call.args[1], call.args[4]
                if isinstance(name_node, ast.Constant):
                    pattern = re.escape(name_node.value)
                else:  # f"kernel_{suffix}" -> kernel_\w+
                    pattern = "".join(re.escape(v.value) if isinstance(v, ast.Constant) else r"\w+"
                                      for v in name_node.values)
                yield fn.name, pattern, _arg_types(args_node, assignments)


@pytest.mark.parametrize("family", FAMILIES)
def test_launch_arguments_match_the_kernel_signatures(family):
    signatures = module.kernel_signatures(family)
    calls = list(_launch_calls(family))
    assert calls
    for where, pattern, types in calls:
        matching = [k for k in signatures if re.fullmatch(pattern, k)]
        assert matching, f"{where}: no kernel matches {pattern}"
        for kernel in matching:
            assert tuple(types) == signatures[kernel], f"{where} -> {kernel}"


def test_check_args_refuses_wrong_scalar_widths():
    class Dev:
        __cuda_array_interface__ = {}

    good = (Dev(), np.uint64(1), np.uint64(64), np.uint64(64), Dev())
    module.check_args("sha256", "sha256_chunks", good)
    with pytest.raises(TypeError, match="uint64_t"):
        module.check_args("sha256", "sha256_chunks", (Dev(), 1, np.uint64(64), np.uint64(64), Dev()))
    with pytest.raises(TypeError, match="device array"):
        module.check_args("sha256", "sha256_chunks", (np.zeros(3), *good[1:]))
    with pytest.raises(TypeError, match="takes 5 arguments"):
        module.check_args("sha256", "sha256_chunks", good[:4])
    with pytest.raises(ValueError, match="no kernel"):
        module.check_args("sha256", "sha256_nope", good)


def test_every_file_the_kernels_include_is_installed():
    # CMake's install(DIRECTORY cuda/ ...) filter must ship the .cu, the .cuh and the NVRTC
    # stand-ins, or an installed (non-editable) pipeward cannot compile its kernels.
    rule = re.search(r"install\(DIRECTORY cuda/[^)]*\)", (ROOT / "CMakeLists.txt").read_text()).group(0)
    patterns = re.findall(r'PATTERN "\*(\.\w+)"', rule)
    regexes = re.findall(r'REGEX "([^"]+)"', rule)
    for f in CUDA_DIR.rglob("*"):
        if f.is_dir() or f.name == "README.md":
            continue
        rel = "/" + f.relative_to(CUDA_DIR).as_posix()
        assert f.suffix in patterns or any(re.search(r, rel) for r in regexes), rel
