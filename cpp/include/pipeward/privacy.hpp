// DP-SGD aggregation: per-sample clipping, summation and Gaussian noise (C++ API + shared math).
//
// The per-element math lives here as PIPEWARD_HD functions so the CPU kernels and the CUDA
// kernel draw the SAME noise for the same seed and element index:
//   * Philox4x32-10 (Salmon et al., SC'11; Random123's known-answer vectors) keyed by the
//     64-bit seed, counter = (block index lo, block index hi, stream, 0); element g of the
//     flattened output uses block g/4, lane g%4.
//   * ChaCha20 block function (RFC 8439) for secure=True: element g uses block g/16, lane g%16.
//   * Box-Muller on two 32-bit words: r = sqrt(-2 ln u), u = (x + 1/2) 2^-32 in (0, 1); the
//     angle's quadrant is the top two bits of the second word and the rest is uniform inside
//     the quadrant; sin/cos are short polynomials (|error| < 1e-7), so the angle is uniform
//     on [-pi/4, 7pi/4) and the pair is an exact Box-Muller pair up to float32 rounding.
// The functions are in an unnamed namespace: each translation unit (portable, AVX2, AVX-512)
// gets its own copy compiled with its own flags, so the linker can never mix ISA variants.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "pipeward/common.hpp"

// Fixed-count loops are unrolled so the compiler can vectorise across blocks.
#if defined(__CUDACC__)
#define PIPEWARD_UNROLL _Pragma("unroll")
#else
#define PIPEWARD_UNROLL _Pragma("GCC unroll 20")
#endif

namespace pipeward::privacy {
namespace {

// ---- Philox4x32-10 ------------------------------------------------------------------------

struct U32x4 {
  uint32_t v[4];
};

PIPEWARD_HD U32x4 philox4x32_10(U32x4 c, uint32_t k0, uint32_t k1) {
  PIPEWARD_UNROLL
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c.v[0];
    const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c.v[2];
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c.v[0] = hi1 ^ c.v[1] ^ k0;
    c.v[1] = lo1;
    c.v[2] = hi0 ^ c.v[3] ^ k1;
    c.v[3] = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return c;
}

// ---- ChaCha20 block function (RFC 8439 section 2.3) ------------------------------------------

PIPEWARD_HD uint32_t rotl32(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

PIPEWARD_HD void chacha_quarter(uint32_t& a, uint32_t& b, uint32_t& c, uint32_t& d) {
  a += b; d ^= a; d = rotl32(d, 16);
  c += d; b ^= c; b = rotl32(b, 12);
  a += b; d ^= a; d = rotl32(d, 8);
  c += d; b ^= c; b = rotl32(b, 7);
}

// key: 8 words, nonce: 3 words (little-endian words as in the RFC); out: 16 keystream words.
PIPEWARD_HD void chacha20_block(const uint32_t* key, uint32_t counter, const uint32_t* nonce,
                                uint32_t* out) {
  uint32_t s[16] = {0x61707865u, 0x3320646eu, 0x79622d32u, 0x6b206574u,
                    key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7],
                    counter, nonce[0], nonce[1], nonce[2]};
  uint32_t x[16];
  PIPEWARD_UNROLL
  for (int i = 0; i < 16; ++i) x[i] = s[i];
  PIPEWARD_UNROLL
  for (int i = 0; i < 10; ++i) {
    chacha_quarter(x[0], x[4], x[8], x[12]);
    chacha_quarter(x[1], x[5], x[9], x[13]);
    chacha_quarter(x[2], x[6], x[10], x[14]);
    chacha_quarter(x[3], x[7], x[11], x[15]);
    chacha_quarter(x[0], x[5], x[10], x[15]);
    chacha_quarter(x[1], x[6], x[11], x[12]);
    chacha_quarter(x[2], x[7], x[8], x[13]);
    chacha_quarter(x[3], x[4], x[9], x[14]);
  }
  PIPEWARD_UNROLL
  for (int i = 0; i < 16; ++i) out[i] = x[i] + s[i];
}

// ---- uniform words -> standard normals -----------------------------------------------------

PIPEWARD_HD float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

PIPEWARD_HD uint32_t float_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// -2 ln(u) for u = (x + 1/2) 2^-32: exponent split, then the atanh series of ln(m), m in
// [sqrt(1/2), sqrt(2)), |s| <= 0.1716, truncation error < 1e-9.
PIPEWARD_HD float minus_two_log_uniform(uint32_t x) {
  const float u = static_cast<float>(x) * 2.3283064365386963e-10f + 1.1641532182693481e-10f;
  uint32_t bits = float_to_bits(u);
  // Move the mantissa to [sqrt(1/2), sqrt(2)) by offsetting the bits before splitting.
  bits -= 0x3f3504f3u;
  const int e = static_cast<int32_t>(bits) >> 23;
  const float m = bits_to_float((bits & 0x007fffffu) + 0x3f3504f3u);
  const float s = (m - 1.0f) / (m + 1.0f);
  const float s2 = s * s;
  const float series = s * (2.0f + s2 * (0.6666666666f + s2 * (0.4f + s2 * (0.2857142857f +
                                                                           s2 * 0.2222222222f))));
  const float ln_u = static_cast<float>(e) * 0.6931471805599453f + series;
  return -2.0f * ln_u;
}

struct F32x2 {
  float v[2];
};
struct F32x4 {
  float v[4];
};
struct F32x16 {
  float v[16];
};

// One Box-Muller pair from two 32-bit words (see the file comment).
PIPEWARD_HD F32x2 box_muller(uint32_t x_radius, uint32_t x_angle) {
  const float r = std::sqrt(minus_two_log_uniform(x_radius));
  const uint32_t quadrant = x_angle >> 30;
  const float f = static_cast<float>(x_angle & 0x3fffffffu) * 9.313225746154785e-10f;  // 2^-30
  const float phi = (f - 0.5f) * 1.5707963267948966f + 7.3145904e-10f;  // + half a step
  const float p2 = phi * phi;
  const float sn = phi * (1.0f + p2 * (-0.16666666666f + p2 * (0.00833333333f +
                                      p2 * (-1.98412698e-4f + p2 * 2.75573192e-6f))));
  const float cs = 1.0f + p2 * (-0.5f + p2 * (0.0416666666f + p2 * (-0.00138888889f +
                                 p2 * 2.48015873e-5f)));
  // (cos, sin) of quadrant*pi/2 + phi with integer selects (vectorisable, exact): odd
  // quadrants swap sin and cos; cos is negative in quadrants 1 and 2, sin in 2 and 3.
  const uint32_t swap = 0u - (quadrant & 1u);
  const uint32_t cb = float_to_bits(cs), sb = float_to_bits(sn);
  const uint32_t c_bits = ((cb & ~swap) | (sb & swap)) ^ (((quadrant ^ (quadrant >> 1)) & 1u) << 31);
  const uint32_t s_bits = ((sb & ~swap) | (cb & swap)) ^ ((quadrant >> 1) << 31);
  return F32x2{{r * bits_to_float(c_bits), r * bits_to_float(s_bits)}};
}

// Four standard normals for Philox block `block` of stream `stream` under a 64-bit seed.
PIPEWARD_HD F32x4 philox_normals(uint64_t seed, uint32_t stream, uint64_t block) {
  U32x4 c{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), stream, 0u}};
  const U32x4 w = philox4x32_10(c, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  const F32x2 a = box_muller(w.v[0], w.v[1]);
  const F32x2 b = box_muller(w.v[2], w.v[3]);
  return F32x4{{a.v[0], a.v[1], b.v[0], b.v[1]}};
}

// Sixteen standard normals for ChaCha20 block `block` (32-bit block counter as in RFC 8439).
PIPEWARD_HD F32x16 chacha_normals(const uint32_t* key, const uint32_t* nonce, uint32_t block) {
  uint32_t w[16];
  chacha20_block(key, block, nonce, w);
  F32x16 out;
  PIPEWARD_UNROLL
  for (int i = 0; i < 16; i += 2) {
    const F32x2 z = box_muller(w[i], w[i + 1]);
    out.v[i] = z.v[0];
    out.v[i + 1] = z.v[1];
  }
  return out;
}

// ---- float16 storage ------------------------------------------------------------------------

// IEEE binary16 bits -> float, exact (subnormals, infinities and NaN included).
PIPEWARD_HD float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t man = h & 0x3ffu;
  if (exp == 0x1fu) return bits_to_float(sign | 0x7f800000u | (man << 13));
  if (exp != 0) return bits_to_float(sign | ((exp + 112u) << 23) | (man << 13));
  // zero or subnormal: man * 2^-24
  const float v = static_cast<float>(man) * 5.9604644775390625e-08f;
  return sign ? -v : v;
}

}  // namespace

// ---- C++ API (raw pointers; the bindings check everything first) -------------------------

enum class Dtype : int { f16 = 0, f32 = 1, f64 = 2 };

// Where the noise comes from.
enum class NoiseKind : int {
  none = 0,
  philox = 1,    // Philox4x32-10(seed, stream)
  chacha20 = 2,  // ChaCha20(key, nonce): secure=True
};

struct NoiseSource {
  NoiseKind kind = NoiseKind::none;
  uint64_t seed = 0;
  uint32_t stream = 0;
  uint32_t key[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  uint32_t nonce[3] = {0, 0, 0};
};

// sq_norms[i] = sum_j g[i, j]^2 for a row-major (rows, cols) array, accumulated in float64
// over fixed chunks combined in a fixed order (identical for any thread count).
void sq_norms(const void* g, Dtype dtype, std::size_t rows, std::size_t cols, double* sq_norms,
              int threads);

// out[j] = out_scale * (sum_i scale[i] * g[i, j] + noise_std * N(offset + j)), float64
// accumulation, written as float64 when out_f64 else float32 (float32 for float16 input).
// Returns false when the sum before noise has a NaN or infinity (the output is then unusable).
bool clip_sum_noise(const void* g, Dtype dtype, std::size_t rows, std::size_t cols,
                    const double* scale, double noise_std, double out_scale,
                    const NoiseSource& noise, uint64_t offset, void* out, bool out_f64,
                    int threads);

// out[j] = N(offset + j) as float32: the noise stream alone (tests and benchmarks).
void normals(const NoiseSource& noise, uint64_t offset, std::size_t n, float* out, int threads);

// RDP of the Poisson-subsampled Gaussian mechanism (sensitivity 1, noise multiplier sigma,
// sampling rate q) at each order, for one step: log(A_alpha) / (alpha - 1) with A_alpha from
// Mironov, Talwar, Zhang (2019) section 3.3 -- the binomial sum for integer orders and the
// erfc series for fractional orders (summing |terms|, as dp-accounting does: an upper bound).
// q == 0 -> 0; sigma == 0 or alpha == inf -> inf; q == 1 -> alpha / (2 sigma^2).
void rdp_subsampled_gaussian(double q, double sigma, const double* orders, std::size_t n,
                             double* rdp);

// ---- the CUDA kernels of cuda/privacy.cu (PIPEWARD_CHECK_CUDA_KERNEL in common.hpp) -------

// Squared-norm chunk partials: g, rows, cols, chunk, partial.
template <typename T>
using SqNormPartialsKernel = void(const T*, uint64_t, uint64_t, uint64_t, double*);
// partial, rows, chunks, sq_norms.
using SumPartialsKernel = void(const double*, uint64_t, uint64_t, double*);
// Fused clip + sum + Philox noise: g, rows, cols, scale, noise_std, out_scale, kind, seed,
// stream, offset, out, bad.
template <typename T, typename Out>
using ClipSumNoisePhiloxKernel = void(const T*, uint64_t, uint64_t, const double*, double,
                                      double, int, uint64_t, uint32_t, uint64_t, Out*, int*);
// Fused clip + sum + ChaCha20 noise: g, rows, cols, scale, noise_std, out_scale, key_nonce,
// offset, out, bad.
template <typename T, typename Out>
using ClipSumNoiseChachaKernel = void(const T*, uint64_t, uint64_t, const double*, double,
                                      double, const uint32_t*, uint64_t, Out*, int*);
// The noise stream alone: seed, stream, offset, n, out / key_nonce, offset, n, out.
using NormalsPhiloxKernel = void(uint64_t, uint32_t, uint64_t, uint64_t, float*);
using NormalsChachaKernel = void(const uint32_t*, uint64_t, uint64_t, float*);

}  // namespace pipeward::privacy

#define PIPEWARD_PRIVACY_CUDA_KERNELS(X)                                                     \
  X(privacy_sq_norm_partials_f16, ::pipeward::privacy::SqNormPartialsKernel<uint16_t>)       \
  X(privacy_sq_norm_partials_f32, ::pipeward::privacy::SqNormPartialsKernel<float>)          \
  X(privacy_sq_norm_partials_f64, ::pipeward::privacy::SqNormPartialsKernel<double>)         \
  X(privacy_sum_partials, ::pipeward::privacy::SumPartialsKernel)                            \
  X(privacy_clip_sum_noise_philox_f16, ::pipeward::privacy::ClipSumNoisePhiloxKernel<uint16_t, float>) \
  X(privacy_clip_sum_noise_philox_f32, ::pipeward::privacy::ClipSumNoisePhiloxKernel<float, float>)    \
  X(privacy_clip_sum_noise_philox_f64, ::pipeward::privacy::ClipSumNoisePhiloxKernel<double, double>)  \
  X(privacy_clip_sum_noise_chacha_f16, ::pipeward::privacy::ClipSumNoiseChachaKernel<uint16_t, float>) \
  X(privacy_clip_sum_noise_chacha_f32, ::pipeward::privacy::ClipSumNoiseChachaKernel<float, float>)    \
  X(privacy_clip_sum_noise_chacha_f64, ::pipeward::privacy::ClipSumNoiseChachaKernel<double, double>)  \
  X(privacy_normals_philox, ::pipeward::privacy::NormalsPhiloxKernel)                        \
  X(privacy_normals_chacha, ::pipeward::privacy::NormalsChachaKernel)
