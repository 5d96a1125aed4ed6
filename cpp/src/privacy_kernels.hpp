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
#pragma once

#ifndef PIPEWARD_PRIVACY_NS
#error "define PIPEWARD_PRIVACY_NS before including privacy_kernels.hpp"
#endif

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "pipeward/privacy.hpp"
#if defined(PIPEWARD_PRIVACY_HAND_AVX512)
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

// A pure streaming reduction: 256-bit vectors keep up with memory and, measured on the
// Xeon, beat 512-bit ones here (the noise loops are the opposite).
#if defined(__GNUC__) && !defined(__clang__) && defined(PIPEWARD_X86)
#define PIPEWARD_STREAMING __attribute__((target("prefer-vector-width=256")))
#else
#define PIPEWARD_STREAMING
#endif

template <typename In>
PIPEWARD_STREAMING void sq_norms_impl(const In* g, std::size_t rows, std::size_t cols, double* out, int threads) {
  const std::size_t chunks = cols == 0 ? 0 : (cols + kNormChunk - 1) / kNormChunk;
  std::vector<double> partial(rows * chunks, 0.0);
  const long long tasks = static_cast<long long>(rows * chunks);
#pragma omp parallel for schedule(static) num_threads(threads) if (rows * cols >= kParallelMin)
  for (long long t = 0; t < tasks; ++t) {
    const std::size_t r = static_cast<std::size_t>(t) / chunks, c = static_cast<std::size_t>(t) % chunks;
    const std::size_t j0 = c * kNormChunk, j1 = std::min(cols, j0 + kNormChunk);
    const In* row = g + r * cols;
    // 32 independent lanes: enough parallel FMA chains to keep up with memory.
    alignas(64) double lanes[32] = {};
    std::size_t j = j0;
    for (; j + 32 <= j1; j += 32) {
#pragma omp simd
      for (std::size_t k = 0; k < 32; ++k) {
        const double x = static_cast<double>(load(row, j + k));
        lanes[k] += x * x;
      }
    }
    for (std::size_t k = 0; j < j1; ++j, ++k) {
      const double x = static_cast<double>(load(row, j));
      lanes[k] += x * x;
    }
    double s = 0.0;
    for (std::size_t k = 0; k < 32; ++k) s += lanes[k];
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

template <typename In, typename Out>
bool clip_sum_noise_impl(const In* g, std::size_t rows, std::size_t cols, const double* scale,
                         double noise_std, double out_scale, const NoiseSource& src,
                         uint64_t offset, Out* out, int threads) {
  const long long blocks = static_cast<long long>((cols + kColBlock - 1) / kColBlock);
  int bad = 0;
// (rows + 1): an empty batch still draws the noise, which is work worth threads.
#pragma omp parallel for schedule(static) num_threads(threads) reduction(| : bad) \
    if ((rows + 1) * cols >= kParallelMin)
  for (long long t = 0; t < blocks; ++t) {
    const std::size_t c0 = static_cast<std::size_t>(t) * kColBlock;
    const std::size_t w = std::min(kColBlock, cols - c0);
    if constexpr (std::is_same_v<Out, float>) {
      if (rows == 0 && src.kind != 0 && noise_std != 0.0) {  // the noise alone: straight out
        float* o = out + c0;
        noise_block(src, offset + c0, w, o);
        if (noise_std != 1.0 || out_scale != 1.0) {
#pragma omp simd
          for (std::size_t j = 0; j < w; ++j)
            o[j] = static_cast<float>(out_scale * (noise_std * static_cast<double>(o[j])));
        }
        continue;
      }
    }
    alignas(64) double acc[kColBlock];
    for (std::size_t j = 0; j < w; ++j) acc[j] = 0.0;
    std::size_t i = 0;
    for (; i + 4 <= rows; i += 4) {  // four rows per sweep: a quarter of the acc traffic
      const In* r0 = g + i * cols + c0;
      const In* r1 = r0 + cols;
      const In* r2 = r1 + cols;
      const In* r3 = r2 + cols;
      const double s0 = scale[i], s1 = scale[i + 1], s2 = scale[i + 2], s3 = scale[i + 3];
#pragma omp simd
      for (std::size_t j = 0; j < w; ++j)
        acc[j] += s0 * static_cast<double>(load(r0, j)) + s1 * static_cast<double>(load(r1, j)) +
                  s2 * static_cast<double>(load(r2, j)) + s3 * static_cast<double>(load(r3, j));
    }
    for (; i < rows; ++i) {
      const In* row = g + i * cols + c0;
      const double s = scale[i];
#pragma omp simd
      for (std::size_t j = 0; j < w; ++j) acc[j] += s * static_cast<double>(load(row, j));
    }
    int block_bad = 0;
#pragma omp simd reduction(| : block_bad)
    for (std::size_t j = 0; j < w; ++j) block_bad |= !(std::fabs(acc[j]) <= 1.7976931348623157e308);
    bad |= block_bad;
    Out* o = out + c0;
    if (src.kind == 0 || noise_std == 0.0) {
#pragma omp simd
      for (std::size_t j = 0; j < w; ++j) o[j] = static_cast<Out>(out_scale * acc[j]);
    } else {
      alignas(64) float z[kColBlock];
      noise_block(src, offset + c0, w, z);
#pragma omp simd
      for (std::size_t j = 0; j < w; ++j)
        o[j] = static_cast<Out>(out_scale * (acc[j] + noise_std * static_cast<double>(z[j])));
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
