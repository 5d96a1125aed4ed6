"""A NumPy stand-in for CuPy, with the CUDA kernels emulated in NumPy, for machines without a GPU.

It exercises everything around the kernels (the launchers in ``pipeward._gpu``, the public
functions' dispatch, argument checks against the ``.cu`` signatures, shapes, dtypes, strides,
the host p-value step) so that glue is tested on CI. It says nothing about the CUDA code itself:
that is compiled by nvcc/NVRTC, run on the host where it is host/device code, and cross-checked
on a real GPU by ``tests/test_gpu_*.py``.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import types

import numpy as np


class FakeArray(np.ndarray):
    """A host array that presents itself as device memory (``__cuda_array_interface__``)."""

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.shape, "typestr": self.dtype.str, "strides": self.strides,
                "data": (self.ctypes.data, False), "version": 3}

    @property
    def data(self):  # CuPy: a MemoryPointer with .ptr
        return types.SimpleNamespace(ptr=self.ctypes.data if self.size else 0)

    @property
    def device(self):
        return types.SimpleNamespace(id=0)

    def get(self):
        return np.array(self)

    def __array_wrap__(self, obj, context=None, return_scalar=False):
        # Reductions to 0-d stay arrays, as in CuPy (never silently Python scalars).
        return np.asarray(obj).view(FakeArray)

    def __float__(self):
        return float(np.asarray(self))

    def __bool__(self):
        return bool(np.asarray(self))


def _wrap(x):
    if isinstance(x, np.ndarray):
        return x.view(FakeArray)
    if isinstance(x, np.generic):
        return np.asarray(x).view(FakeArray)
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    return x


def _host(x):
    if isinstance(x, FakeArray):
        return np.asarray(x)
    if isinstance(x, (list, tuple)):
        return type(x)(_host(v) for v in x)
    return x


class _Numpyish(types.ModuleType):
    """Every attribute of ``numpy`` (or a submodule), with arrays returned as FakeArray."""

    def __init__(self, name, base):
        super().__init__(name)
        self._base = base

    def __getattr__(self, attr):
        value = getattr(self._base, attr)
        if callable(value) and not isinstance(value, type):
            def call(*args, **kwargs):
                kwargs.pop("stream", None)
                return _wrap(value(*_host(args), **{k: _host(v) for k, v in kwargs.items()}))
            return call
        return value


def launches():
    """Every kernel launched since the last call, as (kernel name, args)."""
    out = list(_LAUNCHES)
    _LAUNCHES.clear()
    return out


_LAUNCHES: list = []


class _RawModule:
    def __init__(self, code=None, options=(), **_):
        assert code and "extern \"C\" __global__" in code, "RawModule gets the source code"
        self.options = options

    def get_function(self, name):
        emulate = _KERNELS.get(name) or next(
            (f for prefix, f in _PREFIXED if name.startswith(prefix)), None)
        if emulate is None:
            raise AttributeError(f"no emulation for kernel {name}")

        def launch(grid, block, args, *, shared_mem=0):  # RawKernel.__call__'s signature
            assert all(g >= 1 for g in grid) and all(b >= 1 for b in block)
            _LAUNCHES.append((name, args))
            with np.errstate(all="ignore"):  # device arithmetic makes inf/NaN without a word
                emulate(name, *args)
        return launch


def make_cupy():
    """A module object to put in ``sys.modules['cupy']``, and one for ``cupyx``."""
    cp = _Numpyish("cupy", np)
    cp.ndarray = FakeArray
    cp.__version__ = "fake"
    cp.asarray = lambda a, dtype=None: _wrap(np.asarray(_host(a), dtype=dtype))
    cp.asnumpy = lambda a: np.array(a)
    cp.from_dlpack = lambda a: cp.asarray(a)
    cp.RawModule = _RawModule
    cp.linalg = _Numpyish("cupy.linalg", np.linalg)
    cp.linalg.LinAlgError = np.linalg.LinAlgError
    device = types.SimpleNamespace(id=0, attributes={"MultiProcessorCount": 4},
                                   compute_capability="90")
    cp.cuda = types.SimpleNamespace(
        Device=lambda *_: device, get_current_stream=lambda: None,
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
    cupyx = types.ModuleType("cupyx")
    cupyx.errstate = lambda **_: contextlib.nullcontext()
    return cp, cupyx


# ---- the kernels, in NumPy ----------------------------------------------------------------


def _sha256_chunks(_, base, n, length, stride, out):
    for i in range(int(n)):
        data = ctypes.string_at(base.ctypes.data + i * int(stride), int(length))
        out[i] = np.frombuffer(hashlib.sha256(data).digest(), np.uint8)


def _sha256_messages(_, addresses, lengths, n, out):
    for i in range(int(n)):
        data = ctypes.string_at(int(addresses[i]), int(lengths[i])) if lengths[i] else b""
        out[i] = np.frombuffer(hashlib.sha256(data).digest(), np.uint8)


def _sq_norm_partials(_, g, rows, cols, chunk, partial):
    g = np.asarray(g, dtype=np.float64).reshape(int(rows), int(cols))
    chunks = -(-int(cols) // int(chunk))
    for r in range(int(rows)):
        for c in range(chunks):
            part = g[r, c * int(chunk):(c + 1) * int(chunk)]
            partial[r * chunks + c] = part @ part


def _sum_partials(_, partial, rows, chunks, out):
    out[:] = np.asarray(partial).reshape(int(rows), int(chunks)).sum(axis=1)


def _normals(n, offset, **noise):
    from pipeward import _core

    return _core.privacy_normals(int(n), offset=int(offset), **noise).astype(np.float64)


def _key_noise(key_nonce):
    words = np.asarray(key_nonce, dtype="<u4").tobytes()
    return {"key": words[:32], "nonce": words[32:]}


def _clip_sum(g, rows, cols, scale, noise_std, out_scale, noise, offset, out, bad):
    g = np.asarray(g, dtype=np.float64).reshape(int(rows), int(cols))
    acc = np.asarray(scale) @ g if int(rows) else np.zeros(int(cols))
    if noise is not None:
        acc = acc + float(noise_std) * _normals(cols, offset, **noise).astype(np.float64)
    value = float(out_scale) * acc
    if not (np.abs(value) <= np.finfo(out.dtype).max).all():  # NaN, infinity or out of range
        bad[0] = 1
    with np.errstate(over="ignore"):
        out[:] = value


def _clip_philox(_, g, rows, cols, scale, noise_std, out_scale, kind, seed, stream, offset, out, bad):
    noise = {"seed": int(seed), "stream": int(stream)} if int(kind) == 1 else None
    _clip_sum(g, rows, cols, scale, noise_std, out_scale, noise, offset, out, bad)


def _clip_chacha(_, g, rows, cols, scale, noise_std, out_scale, key_nonce, offset, out, bad):
    _clip_sum(g, rows, cols, scale, noise_std, out_scale, _key_noise(key_nonce), offset, out, bad)


def _normals_philox(_, seed, stream, offset, n, out):
    out[:] = _normals(n, offset, seed=int(seed), stream=int(stream))


def _normals_chacha(_, key_nonce, offset, n, out):
    out[:] = _normals(n, offset, **_key_noise(key_nonce))


def _ks_sorted(_, s1, n1, s2, n2, n_features, alternative, method, omit, stat, p, loc, sign,
               used1, used2, status):
    from pipeward import _core

    for f in range(int(n_features)):
        a, b = np.asarray(s1[f]), np.asarray(s2[f])
        c1, c2 = int((~np.isnan(a)).sum()), int((~np.isnan(b)).sum())
        used1[f], used2[f] = c1, c2
        has_nan = c1 < a.size or c2 < b.size
        if (has_nan and not omit) or c1 == 0 or c2 == 0:
            stat[f] = p[f] = loc[f] = sign[f] = np.nan
            status[f] = 3 if has_nan and not omit else 4
            continue
        a, b = a[:c1], b[:c2]
        both = np.concatenate([a, b])
        gaps = np.searchsorted(a, both, "right") / c1 - np.searchsorted(b, both, "right") / c2
        hi, lo = int(np.argmax(gaps)), int(np.argmin(gaps))
        max_s, min_s = gaps[hi], float(np.clip(-gaps[lo], 0, 1))
        use_min = alternative == 1 or (alternative == 0 and min_s > max_s)
        d = min_s if use_min else max_s
        stat[f], loc[f], sign[f] = d, both[lo if use_min else hi], -1.0 if use_min else 1.0
        if method == 1 or (method == 0 and max(c1, c2) <= 10000):
            p[f], status[f] = np.nan, 8
            continue
        m, n = max(c1, c2), min(c1, c2)
        en = m * n / (m + n)
        if alternative != 0:
            z = np.sqrt(en) * d
            p[f], status[f] = np.exp(-2 * z * z - 2 * z * (m + 2 * n) / np.sqrt(m * n * (m + n)) / 3), 0
        elif round(en) <= 140 or (round(en) <= 100000 and round(en) * d ** 1.5 <= 1.4
                                  and round(en) * d * d < 2.2 and 1 < round(en) * d < round(en) - 1):
            p[f], status[f] = np.nan, 9
        else:
            p[f], status[f] = _core.drift_kolmogn_sf(float(np.round(en)), float(d)), 0


def _psi_counts(_, x, n_features, n, fstride, sstride, edges, k, estride, slices, counts):
    for f in range(int(n_features)):
        v = np.asarray(x[f], dtype=np.float64)
        bins = np.searchsorted(np.asarray(edges[f]), v, side="right")
        bins[np.isnan(v)] = int(k) + 1
        counts[f] += np.bincount(bins, minlength=int(k) + 2).astype(np.uint64)


def _centre(_, x, row0, rows, cols, rs, cs, loc, out):
    block = np.asarray(x)[int(row0):int(row0) + int(rows)]
    out[:int(rows)] = block.astype(out.dtype) - np.asarray(loc)


def _row_sq_sums(_, z, rows, cols, out):
    out[:] = (np.asarray(z, dtype=np.float64) ** 2).sum(axis=1)


def _direct(_, x, rows, cols, rs, cs, loc, factor, lower, out):
    c = np.asarray(x) - np.asarray(loc)
    out[:] = ((c @ np.asarray(factor)) ** 2).sum(axis=1)


def _client_rows(name, rows, k, p):
    """The K rows a device address table points at (host memory here), as one (K, P) array."""
    dtype = np.float32 if name.endswith("_f32") else np.float64
    size = int(p) * np.dtype(dtype).itemsize
    return np.stack([np.frombuffer(ctypes.string_at(int(a), size), dtype)
                     for a in np.asarray(rows)[:int(k)]]) if int(p) else np.zeros((int(k), 0), dtype)


def _aggregate_weighted_mean(name, rows, k, p, w, inv_total, out, bad):
    x = _client_rows(name, rows, k, p)
    out[:] = (np.asarray(w)[:, None] * x.astype(np.float64)).sum(axis=0) * float(inv_total)
    bad[0] = int(not np.isfinite(x).all())


def _aggregate_rank_mean(name, rows, k, p, lo, hi, out, bad):
    x = _client_rows(name, rows, k, p)
    ranked = np.sort(x, axis=0, kind="stable")[int(lo):int(hi)].astype(np.float64)
    out[:] = ranked.sum(axis=0) * (1.0 / (int(hi) - int(lo)))
    bad[0] = int(not np.isfinite(x).all())


def _aggregate_pairwise(name, rows, k, p, out, bad):
    x = _client_rows(name, rows, k, p).astype(np.float64)
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(d, 0.0)
    out[:] = d
    bad[0] = int(not np.isfinite(x).all())


_KERNELS = {
    "sha256_chunks": _sha256_chunks,
    "sha256_messages": _sha256_messages,
    "privacy_sum_partials": _sum_partials,
    "privacy_normals_philox": _normals_philox,
    "privacy_normals_chacha": _normals_chacha,
}
_PREFIXED = [
    ("privacy_sq_norm_partials_", _sq_norm_partials),
    ("privacy_clip_sum_noise_philox_", _clip_philox),
    ("privacy_clip_sum_noise_chacha_", _clip_chacha),
    ("drift_ks_2samp_sorted_", _ks_sorted),
    ("drift_psi_counts_by_", _psi_counts),
    ("mahalanobis_centre_", _centre),
    ("mahalanobis_row_sq_sums_", _row_sq_sums),
    ("mahalanobis_direct_", _direct),
    ("aggregate_weighted_mean_", _aggregate_weighted_mean),
    ("aggregate_rank_mean_", _aggregate_rank_mean),
    ("aggregate_pairwise_sq_distances_", _aggregate_pairwise),
]
