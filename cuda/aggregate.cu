// The aggregate family on the GPU. As on the CPU, the K client updates are read in place
// through K row addresses (a device table of uint64): the rows of a (K, P) array or one layer
// of K clients' per-layer arrays, so nothing is stacked. Sums are float64 in client order,
// rounded once; every kernel raises *bad when it meets a NaN or an infinity (the caller then
// names or drops the client, as on the CPU).
#include <cstdint>

#include "pipeward/aggregate.hpp"

namespace {

template <typename T>
__device__ const T* client_row(const uint64_t* rows, int64_t i) {
  return reinterpret_cast<const T*>(rows[i]);
}

template <typename T>
__device__ bool finite(T x) {
  return x - x == T(0);  // NaN for NaN and for an infinity
}

// out[j] = fn(j, ok) for every coordinate j < p, one thread per coordinate (a warp reads 32
// adjacent values of each row); fn clears ok on a non-finite value, which raises *bad.
template <typename T, typename Fn>
__device__ void each_coordinate(int64_t p, T* out, int32_t* bad, Fn fn) {
  for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < p;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    bool ok = true;
    out[j] = static_cast<T>(fn(j, ok));
    if (!ok) *bad = 1;
  }
}

// out[j] = sum_i w_i x_ij * inv_total.
template <typename T>
__device__ void weighted_mean(const uint64_t* rows, int64_t k, int64_t p, const double* w,
                              double inv_total, T* out, int32_t* bad) {
  each_coordinate(p, out, bad, [&](int64_t j, bool& ok) {
    double acc = 0.0;
    for (int64_t i = 0; i < k; ++i) {
      const T x = client_row<T>(rows, i)[j];
      ok = ok && finite(x);
      acc += w[i] * static_cast<double>(x);
    }
    return acc * inv_total;
  });
}

// out[j] = mean of the values ranked [lo, hi) among the K clients at coordinate j (ties broken
// by client index): the median is lo = (K - 1) / 2, hi = K / 2 + 1, a trimmed mean cutting c
// from each end [c, K - c). Each thread ranks every value of its coordinate by counting (K^2
// compares from L1: a warp's K cache lines are reread, not the rows); no sorting network, no
// per-thread array.
template <typename T>
__device__ void rank_mean(const uint64_t* rows, int64_t k, int64_t p, int64_t lo, int64_t hi,
                          T* out, int32_t* bad) {
  const double inv = 1.0 / static_cast<double>(hi - lo);
  each_coordinate(p, out, bad, [&](int64_t j, bool& ok) {
    double acc = 0.0;
    for (int64_t i = 0; i < k; ++i) {
      const T x = client_row<T>(rows, i)[j];
      ok = ok && finite(x);
      int64_t rank = 0;
      for (int64_t m = 0; m < k; ++m) {
        const T y = client_row<T>(rows, m)[j];
        rank += (y < x) || (y == x && m < i);
      }
      if (rank >= lo && rank < hi) acc += static_cast<double>(x);
    }
    return acc * inv;
  });
}

// out[a * k + b] = out[b * k + a] = |x_a - x_b|^2 for a < b: one block per pair (blockIdx.y
// = a, blockIdx.x = b; the blocks with b <= a return at once), differences formed in float64
// before squaring, a fixed reduction order (the result does not depend on scheduling).
template <typename T>
__device__ void pairwise_sq_distances(const uint64_t* rows, int64_t k, int64_t p, double* out,
                                      int32_t* bad) {
  const int64_t a = blockIdx.y, b = blockIdx.x;
  if (b <= a) return;
  const T* xa = client_row<T>(rows, a);
  const T* xb = client_row<T>(rows, b);
  double s = 0.0;
  bool ok = true;
  for (int64_t j = threadIdx.x; j < p; j += blockDim.x) {
    const T u = xa[j], v = xb[j];
    ok = ok && finite(u) && finite(v);
    const double d = static_cast<double>(u) - static_cast<double>(v);
    s += d * d;
  }
  for (int o = 16; o > 0; o >>= 1) s += __shfl_down_sync(0xffffffffu, s, o);
  __shared__ double warp_sums[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    double total = 0.0;
    for (int q = 0; q < static_cast<int>((blockDim.x + 31) >> 5); ++q) total += warp_sums[q];
    out[a * k + b] = total;
    out[b * k + a] = total;
  }
  if (!ok) *bad = 1;
}

}  // namespace

#define PIPEWARD_AGGREGATE_KERNELS(suffix, T)                                                \
  extern "C" __global__ void aggregate_weighted_mean_##suffix(                               \
      const uint64_t* rows, int64_t k, int64_t p, const double* w, double inv_total, T* out, \
      int32_t* bad) {                                                                        \
    weighted_mean<T>(rows, k, p, w, inv_total, out, bad);                                    \
  }                                                                                          \
  extern "C" __global__ void aggregate_rank_mean_##suffix(                                   \
      const uint64_t* rows, int64_t k, int64_t p, int64_t lo, int64_t hi, T* out,            \
      int32_t* bad) {                                                                        \
    rank_mean<T>(rows, k, p, lo, hi, out, bad);                                              \
  }                                                                                          \
  extern "C" __global__ void aggregate_pairwise_sq_distances_##suffix(                       \
      const uint64_t* rows, int64_t k, int64_t p, double* out, int32_t* bad) {               \
    pairwise_sq_distances<T>(rows, k, p, out, bad);                                          \
  }
PIPEWARD_AGGREGATE_KERNELS(f32, float)
PIPEWARD_AGGREGATE_KERNELS(f64, double)

// Every kernel above takes the parameters pipeward/aggregate.hpp declares (the launcher checks
// its arguments against that table).
PIPEWARD_AGGREGATE_CUDA_KERNELS(PIPEWARD_CHECK_CUDA_KERNEL)
