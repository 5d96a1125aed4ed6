// DP-SGD aggregation on the GPU: per-sample squared norms, then one fused pass that clips,
// sums over the batch, adds Gaussian noise and writes the output. Two reads of the (B, P)
// gradients in all, float64 accumulation, deterministic for any launch shape.
//
// The noise is the CPU kernel's stream (pipeward/privacy.hpp): element e of the flattened
// output (e = offset + column) takes lane e % 4 of Philox4x32-10 block e / 4, or lane e % 16
// of ChaCha20 block e / 16 with secure=True. A thread owns exactly one generator block, so
// every normal is computed once and written by the thread that sums its column.
#include <cstdint>

#include "pipeward/privacy.hpp"

namespace {

using pipeward::privacy::chacha_normals;
using pipeward::privacy::half_to_float;
using pipeward::privacy::philox_normals;

__device__ __forceinline__ double load(const float* p, uint64_t j) { return p[j]; }
__device__ __forceinline__ double load(const double* p, uint64_t j) { return p[j]; }
__device__ __forceinline__ double load(const uint16_t* p, uint64_t j) { return half_to_float(p[j]); }

// G consecutive values at p as doubles: one 16-byte (8-byte for float16) load per 16 bytes
// when p is aligned for it, else element by element. Coalesced across the warp either way.
template <int G>
__device__ __forceinline__ void load_group(const float* p, double* v) {
  if ((reinterpret_cast<uintptr_t>(p) & 15u) == 0) {
#pragma unroll
    for (int q = 0; q < G / 4; ++q) {
      const float4 w = reinterpret_cast<const float4*>(p)[q];
      v[4 * q] = w.x; v[4 * q + 1] = w.y; v[4 * q + 2] = w.z; v[4 * q + 3] = w.w;
    }
  } else {
#pragma unroll
    for (int k = 0; k < G; ++k) v[k] = p[k];
  }
}

template <int G>
__device__ __forceinline__ void load_group(const double* p, double* v) {
  if ((reinterpret_cast<uintptr_t>(p) & 15u) == 0) {
#pragma unroll
    for (int q = 0; q < G / 2; ++q) {
      const double2 w = reinterpret_cast<const double2*>(p)[q];
      v[2 * q] = w.x; v[2 * q + 1] = w.y;
    }
  } else {
#pragma unroll
    for (int k = 0; k < G; ++k) v[k] = p[k];
  }
}

template <int G>
__device__ __forceinline__ void load_group(const uint16_t* p, double* v) {
  if ((reinterpret_cast<uintptr_t>(p) & 7u) == 0) {
#pragma unroll
    for (int q = 0; q < G / 4; ++q) {
      const uint2 w = reinterpret_cast<const uint2*>(p)[q];
      v[4 * q] = half_to_float(static_cast<uint16_t>(w.x));
      v[4 * q + 1] = half_to_float(static_cast<uint16_t>(w.x >> 16));
      v[4 * q + 2] = half_to_float(static_cast<uint16_t>(w.y));
      v[4 * q + 3] = half_to_float(static_cast<uint16_t>(w.y >> 16));
    }
  } else {
#pragma unroll
    for (int k = 0; k < G; ++k) v[k] = half_to_float(p[k]);
  }
}

constexpr int kThreads = 256;

// Block-wide sum of one double per thread (blockDim.x == kThreads); valid in thread 0.
__device__ double block_sum(double v) {
  __shared__ double warp_sums[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x >> 5] = v;
  __syncthreads();
  v = threadIdx.x < kThreads / 32 ? warp_sums[threadIdx.x] : 0.0;
  if (threadIdx.x < 32) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  }
  __syncthreads();  // warp_sums is reused by the next task of this block
  return v;
}

// partial[r * chunks + c] = sum of squares of row r, columns [c*chunk, (c+1)*chunk).
template <typename T>
__device__ void sq_norm_partials(const T* __restrict__ g, uint64_t rows, uint64_t cols,
                                 uint64_t chunk, double* __restrict__ partial) {
  const uint64_t chunks = (cols + chunk - 1) / chunk;
  for (uint64_t task = blockIdx.x; task < rows * chunks; task += gridDim.x) {
    const uint64_t r = task / chunks, c = task % chunks;
    const uint64_t j1 = min(cols, (c + 1) * chunk);
    const T* row = g + r * cols;
    double s = 0.0;
    for (uint64_t j = c * chunk + threadIdx.x; j < j1; j += kThreads) {
      const double x = load(row, j);
      s += x * x;
    }
    s = block_sum(s);
    if (threadIdx.x == 0) partial[task] = s;
  }
}

// One thread per generator block of G elements: out[j] = out_scale * (sum_i scale[i] g[i, j]
// + noise_std * z(offset + j)). kind: a pipeward::privacy::NoiseKind (ChaCha20 takes
// key_nonce = 8 key words then 3 nonce words). *bad |= 1 when a result is not finite in Out: a
// NaN or infinity in the sum, or beyond Out's range (float32 noise with sigma * C > FLT_MAX).
template <int G, typename T, typename Out>
__device__ void clip_sum_noise(const T* __restrict__ g, uint64_t rows, uint64_t cols,
                               const double* __restrict__ scale, double noise_std,
                               double out_scale, int kind, uint64_t seed, uint32_t stream,
                               const uint32_t* __restrict__ key_nonce, uint64_t offset,
                               Out* __restrict__ out, int* __restrict__ bad) {
  const uint64_t lead = offset % G;  // columns before the first whole generator block
  const uint64_t groups = (lead + cols + G - 1) / G;
  for (uint64_t t = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x; t < groups;
       t += static_cast<uint64_t>(gridDim.x) * blockDim.x) {
    // Columns j0 .. j0+G-1 (as signed: the first group may start before column 0).
    const int64_t j0 = static_cast<int64_t>(t * G) - static_cast<int64_t>(lead);
    double acc[G];
#pragma unroll
    for (int k = 0; k < G; ++k) acc[k] = 0.0;
    const bool whole = j0 >= 0 && static_cast<uint64_t>(j0) + G <= cols;
    for (uint64_t i = 0; i < rows; ++i) {
      const T* row = g + i * cols;
      const double s = scale[i];
      if (whole) {
        double v[G];
        load_group<G>(row + j0, v);
#pragma unroll
        for (int k = 0; k < G; ++k) acc[k] += s * v[k];
      } else {
#pragma unroll
        for (int k = 0; k < G; ++k) {
          const int64_t j = j0 + k;
          if (j >= 0 && static_cast<uint64_t>(j) < cols) acc[k] += s * load(row, static_cast<uint64_t>(j));
        }
      }
    }
    float z[G];
    if constexpr (G == 4) {
      if (kind == static_cast<int>(pipeward::privacy::NoiseKind::philox)) {
        const auto q = philox_normals(seed, stream, (offset - lead) / 4 + t);
#pragma unroll
        for (int k = 0; k < 4; ++k) z[k] = q.v[k];
      } else {
#pragma unroll
        for (int k = 0; k < 4; ++k) z[k] = 0.0f;
      }
    } else {
      static_assert(G == 16, "ChaCha20 blocks hold 16 normals");
      const auto q = chacha_normals(key_nonce, key_nonce + 8,
                                    static_cast<uint32_t>((offset - lead) / 16 + t));
#pragma unroll
      for (int k = 0; k < 16; ++k) z[k] = q.v[k];
    }
    // The largest finite Out: a value beyond it is reported and stored as an infinity, never
    // converted (out of range, the conversion is undefined), as the CPU kernel does.
    const double out_max = sizeof(Out) == 4 ? 3.4028234663852886e38 : 1.7976931348623157e308;
    int any_bad = 0;
#pragma unroll
    for (int k = 0; k < G; ++k) {
      const int64_t j = j0 + k;
      if (j < 0 || static_cast<uint64_t>(j) >= cols) continue;
      const double noisy = kind == static_cast<int>(pipeward::privacy::NoiseKind::none)
                               ? acc[k]
                               : acc[k] + noise_std * static_cast<double>(z[k]);
      const double v = out_scale * noisy;
      const bool fits = fabs(v) <= out_max;
      any_bad |= !fits;
      out[j] = static_cast<Out>(fits || isnan(v) ? v : copysign(HUGE_VAL, v));
    }
    if (any_bad) atomicOr(bad, 1);
  }
}

}  // namespace

// Squared per-sample norms, stage 1: fixed-size chunk partials (the CPU's chunking), summed
// in chunk order by privacy_sum_partials, so the result does not depend on the grid.
#define PIPEWARD_SQ_NORMS(suffix, T)                                                          \
  extern "C" __global__ void __launch_bounds__(kThreads) privacy_sq_norm_partials_##suffix(  \
      const T* g, uint64_t rows, uint64_t cols, uint64_t chunk, double* partial) {           \
    sq_norm_partials<T>(g, rows, cols, chunk, partial);                                       \
  }
PIPEWARD_SQ_NORMS(f16, uint16_t)
PIPEWARD_SQ_NORMS(f32, float)
PIPEWARD_SQ_NORMS(f64, double)

// Stage 2: sq_norms[r] = sum_c partial[r * chunks + c], in chunk order.
extern "C" __global__ void privacy_sum_partials(const double* __restrict__ partial,
                                                uint64_t rows, uint64_t chunks,
                                                double* __restrict__ sq_norms) {
  for (uint64_t r = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x; r < rows;
       r += static_cast<uint64_t>(gridDim.x) * blockDim.x) {
    double s = 0.0;
    for (uint64_t c = 0; c < chunks; ++c) s += partial[r * chunks + c];
    sq_norms[r] = s;
  }
}

// Fused clip + sum + noise. float16 and float32 gradients give float32 output, float64 gives
// float64 (the CPU kernel's rule). `_philox` threads own 4 columns, `_chacha` threads 16.
#define PIPEWARD_CLIP_SUM_NOISE(suffix, T, Out)                                               \
  extern "C" __global__ void privacy_clip_sum_noise_philox_##suffix(                          \
      const T* g, uint64_t rows, uint64_t cols, const double* scale, double noise_std,       \
      double out_scale, int kind, uint64_t seed, uint32_t stream, uint64_t offset, Out* out, \
      int* bad) {                                                                             \
    clip_sum_noise<4, T, Out>(g, rows, cols, scale, noise_std, out_scale, kind, seed, stream, \
                              nullptr, offset, out, bad);                                     \
  }                                                                                           \
  extern "C" __global__ void privacy_clip_sum_noise_chacha_##suffix(                          \
      const T* g, uint64_t rows, uint64_t cols, const double* scale, double noise_std,       \
      double out_scale, const uint32_t* key_nonce, uint64_t offset, Out* out, int* bad) {    \
    clip_sum_noise<16, T, Out>(g, rows, cols, scale, noise_std, out_scale, 2, 0, 0,           \
                               key_nonce, offset, out, bad);                                  \
  }
PIPEWARD_CLIP_SUM_NOISE(f16, uint16_t, float)
PIPEWARD_CLIP_SUM_NOISE(f32, float, float)
PIPEWARD_CLIP_SUM_NOISE(f64, double, double)

// The noise stream alone: out[j] = z(offset + j) as float32 (tests compare it with the CPU's).
extern "C" __global__ void privacy_normals_philox(uint64_t seed, uint32_t stream, uint64_t offset,
                                                  uint64_t n, float* __restrict__ out) {
  for (uint64_t j = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x; j < n;
       j += static_cast<uint64_t>(gridDim.x) * blockDim.x) {
    const uint64_t e = offset + j;
    out[j] = philox_normals(seed, stream, e / 4).v[e % 4];
  }
}

extern "C" __global__ void privacy_normals_chacha(const uint32_t* __restrict__ key_nonce,
                                                  uint64_t offset, uint64_t n,
                                                  float* __restrict__ out) {
  for (uint64_t j = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x; j < n;
       j += static_cast<uint64_t>(gridDim.x) * blockDim.x) {
    const uint64_t e = offset + j;
    out[j] = chacha_normals(key_nonce, key_nonce + 8, static_cast<uint32_t>(e / 16)).v[e % 16];
  }
}

// Every kernel above takes the parameters pipeward/privacy.hpp declares (the launcher checks
// its arguments against that table).
PIPEWARD_PRIVACY_CUDA_KERNELS(PIPEWARD_CHECK_CUDA_KERNEL)
