// The privacy CPU kernels, written once and compiled once per instruction set: privacy.cpp
// (portable), privacy_avx2.cpp and privacy_avx512.cpp include this file with a different
// PIPEWARD_PRIVACY_NS and different compiler flags; the loops are written so the compiler
// vectorises them (omp simd reductions, structure-of-arrays noise buffers).
//
// Parallel layout (deterministic for any thread count):
//   * squared norms: each row is cut into fixed chunks; every (row, chunk) partial sum is one
//     task and the partials are added in chunk order.
//   * clip + sum + noise: the output is cut into fixed column blocks (32768 columns, so each
//     row is read in long runs); a thread takes a block, reads that slice of all rows, eight
//     at a time, accumulates in float64 and writes the block once with the noise of those
//     element indices fused in.
// The float32 loops of the AVX-512 build and the Philox noise are hand-written
// (privacy_clip_avx512.cpp, privacy_noise_avx512.cpp).
#pragma once

#ifndef PIPEWARD_PRIVACY_NS
#error "define PIPEWARD_PRIVACY_NS before including privacy_kernels.hpp"
#endif

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#include "pipeward/privacy.hpp"
#if defined(PIPEWARD_PRIVACY_HAND_AVX512)
#include "privacy_clip_avx512.hpp"
#include "privacy_noise_avx512.hpp"
#elif defined(PIPEWARD_PRIVACY_HAND_AVX2)
#include "privacy_noise_avx2.hpp"
#endif

namespace pipeward::privacy::PIPEWARD_PRIVACY_NS {
namespace {

constexpr std::size_t kNormChunk = std::size_t{1} << 15;  // elements per partial norm
constexpr std::size_t kColBlock = 1024;                   // output columns per task
constexpr std::size_t kNoiseBuf = kColBlock + 16;         // + room for block alignment
// Below this many elements a parallel region costs more than it saves (many small tensors).
constexpr std::size_t kParallelMin = std::size_t{1} << 16;

inline float load(const float* p, std::size_t j) { return p[j]; }
inline double load(const double* p, std::size_t j) { return p[j]; }
inline float load(const uint16_t* p, std::size_t j) { return half_to_float(p[j]); }

// One core alone cannot keep enough cache-line misses in flight to reach memory bandwidth on
// this Xeon; a software prefetch a few kilobytes ahead of a stream helps it. Harmless past the
// end of a row (prefetches do not fault).
constexpr int kPrefetchBytes = 2048;  // measured: 1-4 KiB ahead all help; 8 KiB is too far
template <typename In>
inline void prefetch_ahead(const In* p) {
  __builtin_prefetch(reinterpret_cast<const char*>(p) + kPrefetchBytes, 0, 3);
}

// Sum of squares of w elements (float64 lanes, the sq_norms_impl pattern).
template <typename In>
double sum_squares(const In* x, std::size_t w) {
  alignas(64) double lanes[32] = {};
  std::size_t j = 0;
  for (; j + 32 <= w; j += 32) {
    prefetch_ahead(x + j);
#pragma omp simd
    for (std::size_t k = 0; k < 32; ++k) {
      const double v = static_cast<double>(load(x, j + k));
      lanes[k] += v * v;
    }
  }
  for (std::size_t k = 0; j < w; ++j, ++k) {
    const double v = static_cast<double>(load(x, j));
    lanes[k] += v * v;
  }
  double s = 0.0;
  for (std::size_t k = 0; k < 32; ++k) s += lanes[k];
  return s;
}

// acc[j] (= 0 when fresh) += sum over the n rows at x (stride cols) of f[i] x[i][j], j < w.
template <typename In>
void accumulate_rows(const In* x, std::size_t cols, const double* f, std::size_t n,
                     std::size_t w, double* acc, bool fresh) {
  std::size_t i = 0;
  if (fresh) {
#pragma omp simd
    for (std::size_t j = 0; j < w; ++j) acc[j] = 0.0;
  }
  for (; i + 4 <= n; i += 4) {  // four rows per sweep: a quarter of the acc traffic
    const In* r0 = x + i * cols;
    const In* r1 = r0 + cols;
    const In* r2 = r1 + cols;
    const In* r3 = r2 + cols;
    const double s0 = f[i], s1 = f[i + 1], s2 = f[i + 2], s3 = f[i + 3];
    for (std::size_t j0 = 0; j0 < w; j0 += 16) {
      const std::size_t j1 = std::min(w, j0 + 16);
      prefetch_ahead(r0 + j0);
      prefetch_ahead(r1 + j0);
      prefetch_ahead(r2 + j0);
      prefetch_ahead(r3 + j0);
#pragma omp simd
      for (std::size_t j = j0; j < j1; ++j)
        acc[j] += s0 * static_cast<double>(load(r0, j)) + s1 * static_cast<double>(load(r1, j)) +
                  s2 * static_cast<double>(load(r2, j)) + s3 * static_cast<double>(load(r3, j));
    }
  }
  for (; i < n; ++i) {
    const In* r = x + i * cols;
    const double s = f[i];
#pragma omp simd
    for (std::size_t j = 0; j < w; ++j) acc[j] += s * static_cast<double>(load(r, j));
  }
}

#if defined(PIPEWARD_PRIVACY_HAND_AVX512)
// float32, the common case: the hand-written loops (privacy_clip_avx512.cpp).
template <>
inline double sum_squares<float>(const float* x, std::size_t w) {
  return sum_squares_f32(x, w, kPrefetchBytes);
}
template <>
inline void accumulate_rows<float>(const float* x, std::size_t cols, const double* f,
                                   std::size_t n, std::size_t w, double* acc, bool fresh) {
  accumulate_rows_f32(x, cols, f, n, w, acc, fresh, kPrefetchBytes);
}
#endif

template <typename In>
void sq_norms_impl(const In* g, std::size_t rows, std::size_t cols, double* out, int threads) {
  const std::size_t chunks = cols == 0 ? 0 : (cols + kNormChunk - 1) / kNormChunk;
  std::vector<double> partial(rows * chunks, 0.0);
  const long long tasks = static_cast<long long>(rows * chunks);
#pragma omp parallel for schedule(static) num_threads(threads) if (rows * cols >= kParallelMin)
  for (long long t = 0; t < tasks; ++t) {
    const std::size_t r = static_cast<std::size_t>(t) / chunks, c = static_cast<std::size_t>(t) % chunks;
    const std::size_t j0 = c * kNormChunk, j1 = std::min(cols, j0 + kNormChunk);
    const In* row = g + r * cols;
    const double s = sum_squares(row + j0, j1 - j0);
    partial[static_cast<std::size_t>(t)] = s;
  }
  for (std::size_t r = 0; r < rows; ++r) {
    double s = 0.0;
    for (std::size_t c = 0; c < chunks; ++c) s += partial[r * chunks + c];
    out[r] = s;
  }
}

// Normals for global element indices [first, first + n) into out (n <= kColBlock). The AVX-512
// and AVX2 builds call the hand-written generators (privacy_noise_<isa>.cpp); the portable one
// vectorises the header functions across blocks.
inline void noise_block(const NoiseSource& src, uint64_t first, std::size_t n, float* out) {
#if defined(PIPEWARD_PRIVACY_HAND_AVX512)
  if (src.kind == NoiseKind::philox) {
    philox_normals_avx512(src.seed, src.stream, first, n, out);
  } else {
    chacha_normals_avx512(src.key, src.nonce, first, n, out);
  }
#elif defined(PIPEWARD_PRIVACY_HAND_AVX2)
  if (src.kind == NoiseKind::philox) {
    philox_normals_avx2(src.seed, src.stream, first, n, out);
  } else {
    chacha_normals_avx2(src.key, src.nonce, first, n, out);
  }
#else
  if (src.kind == NoiseKind::philox) {
    const uint64_t b0 = first / 4, lane = first % 4;
    const std::size_t nb = static_cast<std::size_t>((lane + n + 3) / 4);
    alignas(64) float z[4][kNoiseBuf / 4];
    const uint64_t seed = src.seed;
    const uint32_t stream = src.stream;
#pragma omp simd
    for (std::size_t b = 0; b < nb; ++b) {
      const F32x4 q = philox_normals(seed, stream, b0 + b);
      z[0][b] = q.v[0]; z[1][b] = q.v[1]; z[2][b] = q.v[2]; z[3][b] = q.v[3];
    }
    for (std::size_t j = 0; j < n; ++j) {
      const std::size_t k = static_cast<std::size_t>(lane) + j;
      out[j] = z[k & 3][k >> 2];
    }
  } else {
    const uint64_t b0 = first / 16, lane = first % 16;
    const std::size_t nb = static_cast<std::size_t>((lane + n + 15) / 16);
    alignas(64) float z[16][kNoiseBuf / 16 + 1];
    uint32_t key[8], nonce[3];
    for (int i = 0; i < 8; ++i) key[i] = src.key[i];
    for (int i = 0; i < 3; ++i) nonce[i] = src.nonce[i];
#pragma omp simd
    for (std::size_t b = 0; b < nb; ++b) {
      const F32x16 q = chacha_normals(key, nonce, static_cast<uint32_t>(b0 + b));
      PIPEWARD_UNROLL
      for (int i = 0; i < 16; ++i) z[i][b] = q.v[i];
    }
    for (std::size_t j = 0; j < n; ++j) {
      const std::size_t k = static_cast<std::size_t>(lane) + j;
      out[j] = z[k & 15][k >> 4];
    }
  }
#endif
}

// Stores v in o; returns true when v is NaN or beyond Out's range (a finite double above
// FLT_MAX overflows float32: stored as an infinity, never cast, which would be undefined).
template <typename Out>
inline bool store_checked(Out& o, double v) {
  const bool fits = std::fabs(v) <= static_cast<double>(std::numeric_limits<Out>::max());
  o = static_cast<Out>(fits || std::isnan(v) ? v : std::copysign(HUGE_VAL, v));
  return !fits;
}

// o[j] = out_scale * (acc[j] + noise_std * N(first + j)), j < w; returns true when a result
// is not finite in Out: a NaN or infinity in the sum, or an overflow of Out (a float32
// output whose noise std sigma * C, or whose sum, exceeds FLT_MAX).
template <typename Out>
bool write_block(const double* acc, std::size_t w, const NoiseSource& src, double noise_std,
                 double out_scale, uint64_t first, Out* o) {
  int bad = 0;
  if (src.kind == NoiseKind::none || noise_std == 0.0) {
#pragma omp simd reduction(| : bad)
    for (std::size_t j = 0; j < w; ++j) bad |= store_checked(o[j], out_scale * acc[j]);
    return bad != 0;
  }
  alignas(64) float z[kColBlock];
  for (std::size_t b = 0; b < w; b += kColBlock) {
    const std::size_t wb = std::min(kColBlock, w - b);
    noise_block(src, first + b, wb, z);
#pragma omp simd reduction(| : bad)
    for (std::size_t j = 0; j < wb; ++j)
      bad |= store_checked(o[b + j], out_scale * (acc[b + j] + noise_std * static_cast<double>(z[j])));
  }
  return bad != 0;
}

// The noise alone (an empty batch): o[j] = out_scale * noise_std * N(offset + j); returns true
// when a value overflows float32.
inline bool noise_only(const NoiseSource& src, double noise_std, double out_scale,
                       uint64_t offset, std::size_t cols, float* out, int threads) {
  const long long blocks = static_cast<long long>((cols + kColBlock - 1) / kColBlock);
  int bad = 0;
#pragma omp parallel for schedule(static) num_threads(threads) reduction(| : bad) if (cols >= kParallelMin)
  for (long long t = 0; t < blocks; ++t) {
    const std::size_t c0 = static_cast<std::size_t>(t) * kColBlock;
    const std::size_t w = std::min(kColBlock, cols - c0);
    float* o = out + c0;
    noise_block(src, offset + c0, w, o);
    if (noise_std != 1.0 || out_scale != 1.0) {
#pragma omp simd reduction(| : bad)
      for (std::size_t j = 0; j < w; ++j)
        bad |= store_checked(o[j], out_scale * (noise_std * static_cast<double>(o[j])));
    }
  }
  return bad != 0;
}

// Output columns per task of the weighted sum: long runs of each row (128 KiB of float32) keep
// the hardware prefetchers streaming; the float64 accumulator (256 KiB) stays in L2.
constexpr std::size_t kSumBlock = std::size_t{1} << 15;

template <typename In, typename Out>
bool clip_sum_noise_impl(const In* g, std::size_t rows, std::size_t cols, const double* scale,
                         double noise_std, double out_scale, const NoiseSource& src,
                         uint64_t offset, Out* out, int threads) {
  if constexpr (std::is_same_v<Out, float>) {
    if (rows == 0 && src.kind != NoiseKind::none && noise_std != 0.0) {
      return !noise_only(src, noise_std, out_scale, offset, cols, out, threads);
    }
  }
  const long long blocks = static_cast<long long>((cols + kSumBlock - 1) / kSumBlock);
  int bad = 0;
#pragma omp parallel num_threads(threads) reduction(| : bad) if (rows * cols >= kParallelMin)
  {
    std::unique_ptr<double[]> acc(new double[kSumBlock]);  // per thread, reused per block
    // Dynamic: on a shared machine a descheduled thread must not hold the others up.
#pragma omp for schedule(dynamic, 1)
    for (long long t = 0; t < blocks; ++t) {
      const std::size_t c0 = static_cast<std::size_t>(t) * kSumBlock;
      const std::size_t w = std::min(kSumBlock, cols - c0);
      accumulate_rows(g + c0, cols, scale, rows, w, acc.get(), true);
      bad |= write_block(acc.get(), w, src, noise_std, out_scale, offset + c0, out + c0);
    }
  }
  return bad == 0;
}

}  // namespace

void sq_norms(const void* g, Dtype dtype, std::size_t rows, std::size_t cols, double* out,
              int threads) {
  switch (dtype) {
    case Dtype::f16: sq_norms_impl(static_cast<const uint16_t*>(g), rows, cols, out, threads); break;
    case Dtype::f32: sq_norms_impl(static_cast<const float*>(g), rows, cols, out, threads); break;
    case Dtype::f64: sq_norms_impl(static_cast<const double*>(g), rows, cols, out, threads); break;
  }
}

bool clip_sum_noise(const void* g, Dtype dtype, std::size_t rows, std::size_t cols,
                    const double* scale, double noise_std, double out_scale,
                    const NoiseSource& noise, uint64_t offset, void* out, bool out_f64,
                    int threads) {
  if (out_f64) {
    return clip_sum_noise_impl(static_cast<const double*>(g), rows, cols, scale, noise_std,
                               out_scale, noise, offset, static_cast<double*>(out), threads);
  }
  if (dtype == Dtype::f16) {
    return clip_sum_noise_impl(static_cast<const uint16_t*>(g), rows, cols, scale, noise_std,
                               out_scale, noise, offset, static_cast<float*>(out), threads);
  }
  return clip_sum_noise_impl(static_cast<const float*>(g), rows, cols, scale, noise_std,
                             out_scale, noise, offset, static_cast<float*>(out), threads);
}

void normals(const NoiseSource& noise, uint64_t offset, std::size_t n, float* out, int threads) {
  const long long blocks = static_cast<long long>((n + kColBlock - 1) / kColBlock);
#pragma omp parallel for schedule(static) num_threads(threads) if (n >= kParallelMin)
  for (long long t = 0; t < blocks; ++t) {
    const std::size_t c0 = static_cast<std::size_t>(t) * kColBlock;
    noise_block(noise, offset + c0, std::min(kColBlock, n - c0), out + c0);
  }
}

}  // namespace pipeward::privacy::PIPEWARD_PRIVACY_NS
