"""Pure-NumPy reference for the privacy family: the readable spec of every number it computes.

* ``clip_and_noise``: per-sample L2 norms (float64), clip factors, the clipped sum and the
  Gaussian noise, exactly as ``pipeward.clip_and_noise`` defines them (see docs/privacy.md).
* ``philox4x32_10`` / ``box_muller`` / ``philox_normals`` / ``chacha_normals``: the noise
  stream, element by element, as the C++ and CUDA kernels draw it.
* ``rdp_subsampled_gaussian`` / ``rdp_to_epsilon``: Renyi DP of the Poisson-subsampled
  Gaussian mechanism (Mironov, Talwar, Zhang 2019) and its conversion to (epsilon, delta)
  (Balle et al. 2020, Theorem 21; dp-accounting's ``compute_epsilon``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# ---- noise stream ----------------------------------------------------------------------------

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_MASK32 = np.uint64(0xFFFFFFFF)


def philox4x32_10(counter: np.ndarray, key: tuple[int, int]) -> np.ndarray:
    """Philox4x32-10 (Salmon et al. 2011) on a (n, 4) array of uint32 counters -> (n, 4)."""
    c = [counter[:, i].astype(np.uint64) for i in range(4)]
    k0, k1 = key
    for _ in range(10):
        p0 = _M0 * c[0]
        p1 = _M1 * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ np.uint64(k0), p1 & _MASK32,
             (p0 >> np.uint64(32)) ^ c[3] ^ np.uint64(k1), p0 & _MASK32]
        k0 = (k0 + _W0) & 0xFFFFFFFF
        k1 = (k1 + _W1) & 0xFFFFFFFF
    return np.stack(c, axis=1).astype(np.uint32)


def _minus_two_log_uniform(x: np.ndarray) -> np.ndarray:
    f32 = np.float32
    u = x.astype(f32) * f32(2.3283064365386963e-10) + f32(1.1641532182693481e-10)
    bits = u.view(np.uint32) - np.uint32(0x3F3504F3)
    e = bits.view(np.int32) >> 23
    m = ((bits & np.uint32(0x007FFFFF)) + np.uint32(0x3F3504F3)).view(f32)
    s = (m - f32(1)) / (m + f32(1))
    s2 = s * s
    series = s * (f32(2) + s2 * (f32(0.6666666666) + s2 * (f32(0.4) + s2 * (
        f32(0.2857142857) + s2 * f32(0.2222222222)))))
    return f32(-2) * (e.astype(f32) * f32(0.6931471805599453) + series)


def box_muller(x_radius: np.ndarray, x_angle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two float32 standard normals per pair of uint32 words (see cpp privacy.hpp)."""
    f32 = np.float32
    r = np.sqrt(_minus_two_log_uniform(x_radius))
    quadrant = x_angle >> np.uint32(30)
    f = (x_angle & np.uint32(0x3FFFFFFF)).astype(f32) * f32(9.313225746154785e-10)
    phi = (f - f32(0.5)) * f32(1.5707963267948966) + f32(7.3145904e-10)
    p2 = phi * phi
    sn = phi * (f32(1) + p2 * (f32(-0.16666666666) + p2 * (f32(0.00833333333) + p2 * (
        f32(-1.98412698e-4) + p2 * f32(2.75573192e-6)))))
    cs = f32(1) + p2 * (f32(-0.5) + p2 * (f32(0.0416666666) + p2 * (f32(-0.00138888889) +
                                                                    p2 * f32(2.48015873e-5))))
    odd = (quadrant & 1) == 1
    cos_t = np.where(odd, sn, cs) * np.where((quadrant == 1) | (quadrant == 2), f32(-1), f32(1))
    sin_t = np.where(odd, cs, sn) * np.where(quadrant >= 2, f32(-1), f32(1))
    return r * cos_t, r * sin_t


def philox_normals(seed: int, n: int, *, offset: int = 0, stream: int = 0) -> np.ndarray:
    """N(offset + j) for j < n: element g is lane g % 4 of Philox block g // 4."""
    first, last = offset // 4, (offset + n + 3) // 4
    blocks = np.arange(first, last, dtype=np.uint64)
    counter = np.stack([blocks & _MASK32, blocks >> np.uint64(32),
                        np.full_like(blocks, stream), np.zeros_like(blocks)], axis=1)
    w = philox4x32_10(counter.astype(np.uint32), (seed & 0xFFFFFFFF, seed >> 32))
    z0, z1 = box_muller(w[:, 0], w[:, 1])
    z2, z3 = box_muller(w[:, 2], w[:, 3])
    z = np.stack([z0, z1, z2, z3], axis=1).reshape(-1)
    start = offset - 4 * first
    return z[start:start + n]


def chacha_normals(key: bytes, nonce: bytes, n: int, *, offset: int = 0) -> np.ndarray:
    """Secure-mode noise: element g is lane g % 16 of ChaCha20 block g // 16 (RFC 8439
    keystream from ``cryptography``), through the same Box-Muller transform."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms  # noqa: PLC0415

    first, last = offset // 16, (offset + n + 15) // 16
    full_nonce = int(first).to_bytes(4, "little") + nonce
    enc = Cipher(algorithms.ChaCha20(key, full_nonce), mode=None).encryptor()
    words = np.frombuffer(enc.update(bytes(64 * (last - first))), dtype="<u4")
    z0, z1 = box_muller(words[0::2], words[1::2])
    z = np.stack([z0, z1], axis=1).reshape(-1)
    start = offset - 16 * first
    return z[start:start + n]


# ---- clipping ------------------------------------------------------------------------------


def per_sample_norms(grads: Sequence[np.ndarray]) -> np.ndarray:
    """(B, L): the L2 norm of each sample's gradient in each of the L tensors (float64)."""
    return np.stack([np.sqrt((g.reshape(g.shape[0], math.prod(g.shape[1:])).astype(np.float64) ** 2).sum(axis=1))
                     for g in grads], axis=1)


def clip_factor(norm: np.ndarray, max_norm: float, convention: str) -> np.ndarray:
    """Opacus: min(1, C / (norm + 1e-6)); TF Privacy / Optax: min(1, C / norm), 1 at norm 0."""
    if convention == "opacus":
        return np.minimum(1.0, max_norm / (norm + 1e-6))
    with np.errstate(divide="ignore"):
        return np.minimum(1.0, np.where(norm > 0, max_norm / np.where(norm > 0, norm, 1.0), 1.0))


def clip_and_noise(grads: Sequence[np.ndarray], max_grad_norm: float | Sequence[float],
                   noise_multiplier: float, *, reduction: str = "sum",
                   expected_batch_size: int | None = None, convention: str = "opacus",
                   norms: np.ndarray | None = None, noise: Sequence[np.ndarray] | None = None
                   ) -> list[np.ndarray]:
    """The aggregate of a list of (B, ...) per-sample gradients, float64.

    flat clipping (one C): n_i = sqrt(sum_l n_il^2), out = sum_i f(n_i) g_i + sigma C z;
    per-layer clipping (C_l per tensor): out_l = sum_i f_l(n_il) g_il + sigma ||C||_2 z_l.
    ``reduction='mean'`` divides by ``expected_batch_size`` (or B when it is None). ``noise``
    holds standard normals shaped like each output (None: no noise).
    """
    b = grads[0].shape[0]
    layer_norms = per_sample_norms(grads) if norms is None else np.asarray(norms, np.float64)
    if np.ndim(max_grad_norm) == 0:
        total = layer_norms if layer_norms.ndim == 1 else np.sqrt((layer_norms ** 2).sum(axis=1))
        factors = [clip_factor(total, float(max_grad_norm), convention)] * len(grads)
        std = noise_multiplier * float(max_grad_norm)
    else:
        c = np.asarray(max_grad_norm, np.float64)
        factors = [clip_factor(layer_norms[:, k], c[k], convention) for k in range(len(grads))]
        std = noise_multiplier * float(np.sqrt((c ** 2).sum()))
    denom = 1.0
    if reduction == "mean":
        denom = float(expected_batch_size if expected_batch_size is not None else b)
    out = []
    for k, g in enumerate(grads):
        flat = g.reshape(b, math.prod(g.shape[1:])).astype(np.float64)
        summed = factors[k] @ flat if b else np.zeros(flat.shape[1])
        if noise is not None:
            summed = summed + std * np.asarray(noise[k], np.float64).reshape(-1)
        out.append((summed / denom).reshape(g.shape[1:]))
    return out


# ---- RDP accounting ------------------------------------------------------------------------


def _log_add(a: float, b: float) -> float:
    lo, hi = min(a, b), max(a, b)
    return hi if lo == -math.inf else hi + math.log1p(math.exp(lo - hi))


def _log_erfc(x: float) -> float:
    from scipy.special import log_ndtr  # noqa: PLC0415

    return math.log(2.0) + float(log_ndtr(-x * math.sqrt(2.0)))


def _log_comb(n: float, k: float) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _log_a_int(q: float, sigma: float, alpha: int) -> float:
    log_a = -math.inf
    for i in range(alpha + 1):
        term = (_log_comb(alpha, i) + i * math.log(q) + (alpha - i) * math.log1p(-q)
                + (i * i - i) / (2 * sigma ** 2))
        log_a = _log_add(log_a, term)
    return log_a


def _log_a_frac(q: float, sigma: float, alpha: float) -> float:
    a0 = a1 = last0 = last1 = -math.inf
    z0 = sigma ** 2 * math.log(1 / q - 1) + 0.5
    for i in range(1000):
        j = alpha - i
        log_coef = _log_comb(alpha, i)  # lgamma is log|Gamma|: |C(alpha, i)| for any i
        t0 = log_coef + i * math.log(q) + j * math.log1p(-q)
        t1 = log_coef + j * math.log(q) + i * math.log1p(-q)
        s0 = t0 + (i * i - i) / (2 * sigma ** 2) + math.log(0.5) + _log_erfc((i - z0) / (math.sqrt(2) * sigma))
        s1 = t1 + (j * j - j) / (2 * sigma ** 2) + math.log(0.5) + _log_erfc((z0 - j) / (math.sqrt(2) * sigma))
        a0, a1 = _log_add(a0, s0), _log_add(a1, s1)
        total = _log_add(a0, a1)
        if s0 < last0 and s1 < last1 and max(s0, s1) < total - 30:
            return total
        last0, last1 = s0, s1
    return math.inf


def rdp_subsampled_gaussian(q: float, sigma: float, orders: Sequence[float]) -> np.ndarray:
    """RDP of one step of the Poisson-subsampled Gaussian mechanism at each order:
    log(A_alpha) / (alpha - 1), with |terms| summed for fractional orders (an upper bound,
    as dp-accounting does)."""
    out = []
    for a in orders:
        if q == 0:
            out.append(0.0)
        elif sigma == 0 or math.isinf(a):
            out.append(math.inf)
        elif q == 1:
            out.append(a / (2 * sigma ** 2))
        elif float(a).is_integer():
            out.append(_log_a_int(q, sigma, int(a)) / (a - 1))
        else:
            out.append(_log_a_frac(q, sigma, a) / (a - 1))
    return np.array(out)


def rdp_to_epsilon(orders: Sequence[float], rdp: Sequence[float], delta: float
                   ) -> tuple[float, float]:
    """(epsilon, order): min over orders of
    r + log1p(-1/a) - log(delta * a) / (a - 1)   (Balle et al. 2020, Thm 21),
    0 where delta^2 + expm1(-r) > 0 (the KL bound), clipped at 0."""
    best, best_order = math.inf, float("nan")
    for a, r in zip(orders, rdp):
        if r < 0 or delta ** 2 + math.expm1(-r) > 0:
            eps = 0.0
        elif a > 1.01:
            eps = r + math.log1p(-1 / a) - math.log(delta * a) / (a - 1)
        else:
            eps = math.inf
        if eps < best:
            best, best_order = eps, a
    return max(0.0, best), best_order
