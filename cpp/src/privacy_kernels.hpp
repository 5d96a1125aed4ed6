// The privacy CPU kernels, written once and compiled once per instruction set: privacy.cpp
// (portable), privacy_avx2.cpp and privacy_avx512.cpp include this file with a different
// PIPEWARD_PRIVACY_NS and different compiler flags; the loops are written so the compiler
// vectorises them (omp simd reductions, structure-of-arrays noise buffers).
//
// Parallel layout (deterministic for any thread count):
//   * squared norms: each row is cut into fixed chunks; every (row, chunk) partial sum is one
//     task and the partials are added in chunk order.
//   * clip + sum + noise: the output is cut into fixed column blocks; a thread owns a block,
//     reads that slice of all rows, accumulates in float64 and writes the block once with the
//     noise of those element indices fused in.
//   * flat clipping in one sweep (clip_sum_noise_fused): see the section comment below.
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
#include <cstdlib>
#include <memory>
#include <type_traits>
#include <vector>

#include "pipeward/privacy.hpp"
#if defined(PIPEWARD_PRIVACY_HAND_AVX512)
#include "privacy_clip_avx512.hpp"
#include "privacy_noise_avx512.hpp"
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


// ---- one sweep over memory: norms and the clipped sum of a group of rows ---------------------
//
// Two passes over B x P gradients (norms, then the weighted sum) read them twice from memory.
// Here the rows go by in groups small enough that a group stays in the last-level cache: the
// threads share out the column chunks and, chunk by chunk, compute the squared-norm partials
// of group s while they accumulate f_i g_i of group s - 1 (whose norms are complete), so the
// second read of every element comes from cache and overlaps the first read of the next
// group. One barrier per group: on a machine shared with other jobs a descheduled thread
// stalls each of them, so this path degrades more under contention than the two passes (see
// bench/RESULTS.md). Every partial is one (row, chunk) sum combined in chunk order, and every
// column's sum runs over the rows in order: the result does not depend on the thread count.

constexpr std::size_t kFuseChunk = 4096;  // columns per norm partial and per accumulation step

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
void accumulate_rows(const In* x, std::size_t cols, const double* f,
                                        std::size_t n, std::size_t w, double* acc, bool fresh) {
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
      prefetch_ahead(r0 + j0); prefetch_ahead(r1 + j0); prefetch_ahead(r2 + j0); prefetch_ahead(r3 + j0);
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

// Normals for global element indices [first, first + n) into out (n <= kColBlock).
inline void noise_block(const NoiseSource& src, uint64_t first, std::size_t n, float* out) {
#if defined(PIPEWARD_PRIVACY_HAND_AVX512)
  if (src.kind == 1) {
    philox_normals_avx512(src.seed, src.stream, first, n, out);
    return;
  }
#endif
  if (src.kind == 1) {
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
}

// o[j] = out_scale * (acc[j] + noise_std * N(first + j)), j < w; returns true when a sum is
// not finite.
template <typename Out>
bool write_block(const double* acc, std::size_t w, const NoiseSource& src, double noise_std,
                 double out_scale, uint64_t first, Out* o) {
  int bad = 0;
#pragma omp simd reduction(| : bad)
  for (std::size_t j = 0; j < w; ++j) bad |= !(std::fabs(acc[j]) <= 1.7976931348623157e308);
  if (src.kind == 0 || noise_std == 0.0) {
#pragma omp simd
    for (std::size_t j = 0; j < w; ++j) o[j] = static_cast<Out>(out_scale * acc[j]);
    return bad != 0;
  }
  alignas(64) float z[kColBlock];
  for (std::size_t b = 0; b < w; b += kColBlock) {
    const std::size_t wb = std::min(kColBlock, w - b);
    noise_block(src, first + b, wb, z);
#pragma omp simd
    for (std::size_t j = 0; j < wb; ++j)
      o[b + j] = static_cast<Out>(out_scale * (acc[b + j] + noise_std * static_cast<double>(z[j])));
  }
  return bad != 0;
}

// The noise alone (an empty batch): o[j] = out_scale * noise_std * N(offset + j).
inline void noise_only(const NoiseSource& src, double noise_std, double out_scale,
                       uint64_t offset, std::size_t cols, float* out, int threads) {
  const long long blocks = static_cast<long long>((cols + kColBlock - 1) / kColBlock);
#pragma omp parallel for schedule(static) num_threads(threads) if (cols >= kParallelMin)
  for (long long t = 0; t < blocks; ++t) {
    const std::size_t c0 = static_cast<std::size_t>(t) * kColBlock;
    const std::size_t w = std::min(kColBlock, cols - c0);
    float* o = out + c0;
    noise_block(src, offset + c0, w, o);
    if (noise_std != 1.0 || out_scale != 1.0) {
#pragma omp simd
      for (std::size_t j = 0; j < w; ++j)
        o[j] = static_cast<float>(out_scale * (noise_std * static_cast<double>(o[j])));
    }
  }
}

// Output columns per task of the weighted sum: long runs of each row (128 KiB of float32) keep
// the hardware prefetchers streaming; the float64 accumulator (256 KiB) stays in L2.
constexpr std::size_t kSumBlock = std::size_t{1} << 15;

template <typename In, typename Out>
bool clip_sum_noise_impl(const In* g, std::size_t rows, std::size_t cols, const double* scale,
                         double noise_std, double out_scale, const NoiseSource& src,
                         uint64_t offset, Out* out, int threads) {
  if constexpr (std::is_same_v<Out, float>) {
    if (rows == 0 && src.kind != 0 && noise_std != 0.0) {
      noise_only(src, noise_std, out_scale, offset, cols, out, threads);
      return true;
    }
  }
  const long long blocks = static_cast<long long>((cols + kSumBlock - 1) / kSumBlock);
  int bad = 0;
#pragma omp parallel num_threads(threads) reduction(| : bad) if (rows * cols >= kParallelMin)
  {
    std::unique_ptr<double[]> acc(new double[kSumBlock]);
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

// Rows per group: two groups (the one being summed, the one being read) plus the float64
// accumulator must sit in the last-level cache next to other work. On the 2-core Xeon VM the
// cache behaves like ~64-100 MiB (single-core reads: 28 GB/s up to 64 MiB, DRAM speed from
// 128 MiB). Small groups do not pay: the accumulator is read and written once per group, and
// with 4 rows that costs as much as the cached second read saves. Measured at B = 256,
// P = 1M float32 with 2 threads: groups of 8 rows 67 ms, of 4 rows 71 ms, two passes 73 ms;
// at P = 2M and 4M the two passes are as fast or faster, so wider rows take them.
constexpr std::size_t kFuseBudget = std::size_t{32} << 20;
constexpr std::size_t kFuseMinRows = 8;

inline double clip_factor(double norm, double max_norm, Convention convention) {
  if (convention == Convention::opacus) {
    const double f = max_norm / (norm + 1e-6);
    return f < 1.0 ? f : 1.0;
  }
  return norm > max_norm ? max_norm / norm : 1.0;  // tf_privacy / optax
}

template <typename In, typename Out>
bool clip_sum_noise_fused_impl(const In* g, std::size_t rows, std::size_t cols, double max_norm,
                               Convention convention, double noise_std, double out_scale,
                               const NoiseSource& src, uint64_t offset, double* norms, Out* out,
                               int threads, std::size_t group_rows) {
  const std::size_t chunks = (cols + kFuseChunk - 1) / kFuseChunk;
  const std::size_t fit = kFuseBudget / std::max<std::size_t>(cols * sizeof(In), 1);
  // Too few columns to share out, or rows too wide for a cached group: the two passes, each
  // parallel over its own layout. The choice depends on the shape alone, never on the thread
  // count (same result for any).
  if (chunks < 8 || rows == 0 || (group_rows == 0 && fit < kFuseMinRows)) {
    std::vector<double> f(rows);
    sq_norms_impl(g, rows, cols, norms, threads);
    for (std::size_t r = 0; r < rows; ++r) {
      norms[r] = std::sqrt(norms[r]);
      f[r] = clip_factor(norms[r], max_norm, convention);
    }
    return clip_sum_noise_impl(g, rows, cols, f.data(), noise_std, out_scale, src, offset, out,
                               threads);
  }
  const std::size_t k = std::min(rows, group_rows ? group_rows : fit);
  const std::size_t groups = (rows + k - 1) / k;
  std::vector<double> partial(rows * chunks);
  std::unique_ptr<double[]> acc(new double[cols]);  // written before it is read (first group)
  const int team = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(threads), chunks));
  int bad = 0;
#pragma omp parallel num_threads(team) reduction(| : bad)
  {
    std::vector<double> f(k);
    for (std::size_t step = 0; step <= groups; ++step) {
      const bool first = step == 0, last = step == groups;
      const std::size_t n0 = step * k, n1 = last ? n0 : std::min(rows, n0 + k);  // to read
      const std::size_t s0 = first ? 0 : n0 - k, s1 = first ? 0 : std::min(rows, s0 + k);  // to sum
      // The norms of the group to sum are complete since the last barrier; every thread
      // derives the same factors.
      for (std::size_t r = s0; r < s1; ++r) {
        double sq = 0.0;
        for (std::size_t q = 0; q < chunks; ++q) sq += partial[r * chunks + q];
        const double n = std::sqrt(sq);
        f[r - s0] = clip_factor(n, max_norm, convention);
        if (omp_get_thread_num() == 0) norms[r] = n;
      }
      // Guided: each thread first takes a long run of chunks (sequential streams for the
      // prefetchers), the tail is shared out to whoever is free.
#pragma omp for schedule(guided)
      for (long long qq = 0; qq < static_cast<long long>(chunks); ++qq) {
        const auto q = static_cast<std::size_t>(qq);
        const std::size_t c0 = q * kFuseChunk, w = std::min(kFuseChunk, cols - c0);
        for (std::size_t r = n0; r < n1; ++r) partial[r * chunks + q] = sum_squares(g + r * cols + c0, w);
        if (first) continue;
        double* a = acc.get() + c0;
        accumulate_rows(g + s0 * cols + c0, cols, f.data(), s1 - s0, w, a, s0 == 0);
        if (last) bad |= write_block(a, w, src, noise_std, out_scale, offset + c0, out + c0);
      }  // implicit barrier: this step's partials are complete
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

bool clip_sum_noise_fused(const void* g, Dtype dtype, std::size_t rows, std::size_t cols,
                          double max_norm, Convention convention, double noise_std,
                          double out_scale, const NoiseSource& noise, uint64_t offset,
                          double* norms, void* out, bool out_f64, int threads,
                          std::size_t group_rows) {
  if (out_f64) {
    return clip_sum_noise_fused_impl(static_cast<const double*>(g), rows, cols, max_norm, convention,
                                     noise_std, out_scale, noise, offset, norms,
                                     static_cast<double*>(out), threads, group_rows);
  }
  if (dtype == Dtype::f16) {
    return clip_sum_noise_fused_impl(static_cast<const uint16_t*>(g), rows, cols, max_norm,
                                     convention, noise_std, out_scale, noise, offset, norms,
                                     static_cast<float*>(out), threads, group_rows);
  }
  return clip_sum_noise_fused_impl(static_cast<const float*>(g), rows, cols, max_norm, convention,
                                   noise_std, out_scale, noise, offset, norms,
                                   static_cast<float*>(out), threads, group_rows);
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
