// Drift statistics on the GPU: the batched two-sample KS statistic (after CuPy sorts each
// feature) with device asymptotic p-values, and PSI bin counting with shared-memory counters.
// Conventions are the CPU kernels' (pipeward/drift.hpp): ecdf_gap for F1 - F2, psi_bin for the
// bin of a value, the PSI layout (features, k + 2) with the NaN count last.
#include <cstdint>

#include "drift_device.cuh"
#include "pipeward/drift.hpp"

namespace {

using pipeward::drift::ecdf_gap;
using pipeward::drift::KsStatus;
using pipeward::drift::psi_bin;

constexpr int kThreads = 256;

__device__ __forceinline__ int32_t status_code(KsStatus s) { return static_cast<int32_t>(s); }

template <typename T>
__device__ __forceinline__ bool is_nan(T v) { return v != v; }

// Number of values <= x among the first c of ascending `a`.
template <typename T>
__device__ __forceinline__ int64_t upper_bound(const T* a, int64_t c, T x) {
  int64_t lo = 0, hi = c;
  while (lo < hi) {
    const int64_t mid = (lo + hi) >> 1;
    if (a[mid] <= x) lo = mid + 1; else hi = mid;
  }
  return lo;
}

// Number of non-NaN values in a row sorted with NaNs last.
template <typename T>
__device__ __forceinline__ int64_t count_not_nan(const T* a, int64_t n) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    const int64_t mid = (lo + hi) >> 1;
    if (!is_nan(a[mid])) lo = mid + 1; else hi = mid;
  }
  return lo;
}

// An extremum of the ECDF gap and the first position (in scipy's data_all = concat(sorted
// data1, sorted data2) order) attaining it.
struct Extreme {
  double value;
  int64_t index;
};

__device__ __forceinline__ Extreme better_max(Extreme a, Extreme b) {
  return (b.value > a.value || (b.value == a.value && b.index < a.index)) ? b : a;
}
__device__ __forceinline__ Extreme better_min(Extreme a, Extreme b) {
  return (b.value < a.value || (b.value == a.value && b.index < a.index)) ? b : a;
}

__device__ Extreme warp_reduce(Extreme e, bool want_max) {
  for (int o = 16; o > 0; o >>= 1) {
    Extreme other{__shfl_down_sync(0xffffffffu, e.value, o),
                  static_cast<int64_t>(__shfl_down_sync(0xffffffffu, static_cast<long long>(e.index), o))};
    e = want_max ? better_max(e, other) : better_min(e, other);
  }
  return e;
}

// Block-wide reduction of (max, min) pairs; the result is valid in thread 0.
__device__ void block_reduce(Extreme& hi, Extreme& lo) {
  __shared__ Extreme s_hi[kThreads / 32], s_lo[kThreads / 32];
  hi = warp_reduce(hi, true);
  lo = warp_reduce(lo, false);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (lane == 0) { s_hi[warp] = hi; s_lo[warp] = lo; }
  __syncthreads();
  if (warp == 0) {
    const Extreme none_hi{-1e300, INT64_MAX}, none_lo{1e300, INT64_MAX};
    hi = lane < kThreads / 32 ? s_hi[lane] : none_hi;
    lo = lane < kThreads / 32 ? s_lo[lane] : none_lo;
    hi = warp_reduce(hi, true);
    lo = warp_reduce(lo, false);
  }
  __syncthreads();
}

// One block per feature (grid-stride over features). s1: (F, n1), s2: (F, n2), rows sorted
// ascending with NaNs last, C-contiguous. alternative 0/1/2 = two-sided/less/greater,
// method 0/1/2 = auto/exact/asymp (scipy's names).
template <typename T>
__device__ void ks_2samp_sorted(const T* __restrict__ s1, int64_t n1, const T* __restrict__ s2,
                                int64_t n2, int64_t n_features, int alternative, int method,
                                int omit_nan, double* __restrict__ statistic,
                                double* __restrict__ pvalue, double* __restrict__ location,
                                double* __restrict__ sign, int64_t* __restrict__ used1,
                                int64_t* __restrict__ used2, int32_t* __restrict__ status) {
  for (int64_t f = blockIdx.x; f < n_features; f += gridDim.x) {
    const T* a = s1 + f * n1;
    const T* b = s2 + f * n2;
    const int64_t c1 = count_not_nan(a, n1), c2 = count_not_nan(b, n2);
    const bool has_nan = c1 < n1 || c2 < n2;
    if ((has_nan && !omit_nan) || c1 == 0 || c2 == 0) {
      if (threadIdx.x == 0) {
        const double nan_value = nan("");
        statistic[f] = pvalue[f] = location[f] = sign[f] = nan_value;
        used1[f] = c1;  // the CPU kernel reports the non-NaN counts in both cases
        used2[f] = c2;
        status[f] = status_code((has_nan && !omit_nan) ? KsStatus::nan_input : KsStatus::empty);
      }
      continue;  // uniform across the block: no barrier is skipped by part of it
    }
    // Every sorted value is a candidate; the ECDFs count values <= it (searchsorted 'right').
    Extreme hi{-1e300, INT64_MAX}, lo{1e300, INT64_MAX};
    for (int64_t i = threadIdx.x; i < c1 + c2; i += blockDim.x) {
      int64_t k1, k2;
      if (i < c1) {
        const T x = a[i];
        k1 = (i + 1 < c1 && a[i + 1] == x) ? upper_bound(a, c1, x) : i + 1;
        k2 = upper_bound(b, c2, x);
      } else {
        const int64_t j = i - c1;
        const T x = b[j];
        k2 = (j + 1 < c2 && b[j + 1] == x) ? upper_bound(b, c2, x) : j + 1;
        k1 = upper_bound(a, c1, x);
      }
      const double gap = ecdf_gap(k1, c1, k2, c2);
      hi = better_max(hi, Extreme{gap, i});
      lo = better_min(lo, Extreme{gap, i});
    }
    block_reduce(hi, lo);
    if (threadIdx.x == 0) {
      const double max_s = hi.value;
      double min_s = -lo.value;
      min_s = min_s < 0.0 ? 0.0 : (min_s > 1.0 ? 1.0 : min_s);
      const bool use_min = alternative == 1 || (alternative == 0 && min_s > max_s);
      const int64_t at = use_min ? lo.index : hi.index;
      const double d = use_min ? min_s : max_s;
      statistic[f] = d;
      location[f] = static_cast<double>(at < c1 ? a[at] : b[at - c1]);
      sign[f] = use_min ? -1.0 : 1.0;
      used1[f] = c1;
      used2[f] = c2;
      if (pipeward::drift::ks_wants_exact(static_cast<pipeward::drift::Method>(method), c1, c2)) {
        pvalue[f] = nan("");
        status[f] = status_code(KsStatus::host_exact);
      } else {
        const double p = pipeward::drift_device::ks_asymp_pvalue(c1, c2, d, alternative == 0);
        pvalue[f] = p;
        status[f] = status_code(p == p ? KsStatus::ok : KsStatus::host_asymp);
      }
    }
  }
}

// PSI counts, layout 1: each feature's values are contiguous-ish (sample stride small).
// Block = one (feature, slice of samples); counters and edges in shared memory, flushed with
// one global atomic per bin. counts: (F, k + 2) uint64, NaNs in bin k + 1; accumulates.
template <typename T>
__device__ void psi_counts_by_feature(const T* __restrict__ x, int64_t n_features, int64_t n,
                                      int64_t feature_stride, int64_t sample_stride,
                                      const double* __restrict__ edges, int64_t k,
                                      int64_t edge_stride, int64_t slices,
                                      unsigned long long* __restrict__ counts) {
  extern __shared__ unsigned char smem[];
  double* s_edges = reinterpret_cast<double*>(smem);
  unsigned int* s_counts = reinterpret_cast<unsigned int*>(s_edges + k);
  const int64_t nb = k + 2;
  const int64_t per_slice = (n + slices - 1) / slices;
  for (int64_t task = blockIdx.x; task < n_features * slices; task += gridDim.x) {
    const int64_t f = task / slices, slice = task % slices;
    for (int64_t e = threadIdx.x; e < k; e += blockDim.x) s_edges[e] = edges[f * edge_stride + e];
    for (int64_t c = threadIdx.x; c < nb; c += blockDim.x) s_counts[c] = 0;
    __syncthreads();
    const T* p = x + f * feature_stride;
    const int64_t s1 = min(n, (slice + 1) * per_slice);
    for (int64_t s = slice * per_slice + threadIdx.x; s < s1; s += blockDim.x) {
      const T v = p[s * sample_stride];
      atomicAdd(&s_counts[is_nan(v) ? k + 1 : psi_bin(v, s_edges, k)], 1u);
    }
    __syncthreads();
    for (int64_t c = threadIdx.x; c < nb; c += blockDim.x) {
      if (s_counts[c]) atomicAdd(&counts[f * nb + c], static_cast<unsigned long long>(s_counts[c]));
    }
    __syncthreads();
  }
}

// PSI counts, layout 2: a (samples, features) table read row by row (feature stride small):
// a block owns 32 consecutive features, lane l bins feature f0 + l of every row its warp
// reads, so each warp load is one contiguous run of 32 values.
template <typename T>
__device__ void psi_counts_by_row(const T* __restrict__ x, int64_t n_features, int64_t n,
                                  int64_t feature_stride, int64_t sample_stride,
                                  const double* __restrict__ edges, int64_t k, int64_t edge_stride,
                                  int64_t slices, unsigned long long* __restrict__ counts) {
  extern __shared__ unsigned char smem[];
  double* s_edges = reinterpret_cast<double*>(smem);                       // 32 x k
  unsigned int* s_counts = reinterpret_cast<unsigned int*>(s_edges + 32 * k);  // 32 x (k + 2)
  const int64_t nb = k + 2;
  const int64_t tiles = (n_features + 31) / 32;
  const int64_t per_slice = (n + slices - 1) / slices;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  for (int64_t task = blockIdx.x; task < tiles * slices; task += gridDim.x) {
    const int64_t f0 = (task / slices) * 32, slice = task % slices;
    for (int64_t e = threadIdx.x; e < 32 * k; e += blockDim.x) {
      const int64_t f = f0 + e / k;
      s_edges[e] = f < n_features ? edges[f * edge_stride + e % k] : 0.0;
    }
    for (int64_t c = threadIdx.x; c < 32 * nb; c += blockDim.x) s_counts[c] = 0;
    __syncthreads();
    const int64_t f = f0 + lane;
    if (f < n_features) {
      const T* p = x + f * feature_stride;
      const double* e = s_edges + lane * k;
      unsigned int* c = s_counts + lane * nb;
      const int64_t s1 = min(n, (slice + 1) * per_slice);
      for (int64_t s = slice * per_slice + warp; s < s1; s += warps) {
        const T v = p[s * sample_stride];
        atomicAdd(&c[is_nan(v) ? k + 1 : psi_bin(v, e, k)], 1u);
      }
    }
    __syncthreads();
    for (int64_t c = threadIdx.x; c < 32 * nb; c += blockDim.x) {
      const int64_t ff = f0 + c / nb;
      if (ff < n_features && s_counts[c]) {
        atomicAdd(&counts[ff * nb + c % nb], static_cast<unsigned long long>(s_counts[c]));
      }
    }
    __syncthreads();
  }
}

}  // namespace

#define PIPEWARD_DRIFT_KERNELS(suffix, T)                                                     \
  extern "C" __global__ void __launch_bounds__(kThreads) drift_ks_2samp_sorted_##suffix(     \
      const T* s1, int64_t n1, const T* s2, int64_t n2, int64_t n_features, int alternative, \
      int method, int omit_nan, double* statistic, double* pvalue, double* location,         \
      double* sign, int64_t* used1, int64_t* used2, int32_t* status) {                       \
    ks_2samp_sorted<T>(s1, n1, s2, n2, n_features, alternative, method, omit_nan, statistic, \
                       pvalue, location, sign, used1, used2, status);                        \
  }                                                                                           \
  extern "C" __global__ void drift_psi_counts_by_feature_##suffix(                            \
      const T* x, int64_t n_features, int64_t n, int64_t feature_stride,                     \
      int64_t sample_stride, const double* edges, int64_t k, int64_t edge_stride,            \
      int64_t slices, unsigned long long* counts) {                                           \
    psi_counts_by_feature<T>(x, n_features, n, feature_stride, sample_stride, edges, k,      \
                             edge_stride, slices, counts);                                    \
  }                                                                                           \
  extern "C" __global__ void drift_psi_counts_by_row_##suffix(                                \
      const T* x, int64_t n_features, int64_t n, int64_t feature_stride,                     \
      int64_t sample_stride, const double* edges, int64_t k, int64_t edge_stride,            \
      int64_t slices, unsigned long long* counts) {                                           \
    psi_counts_by_row<T>(x, n_features, n, feature_stride, sample_stride, edges, k,          \
                         edge_stride, slices, counts);                                        \
  }
PIPEWARD_DRIFT_KERNELS(f32, float)
PIPEWARD_DRIFT_KERNELS(f64, double)

// Every kernel above takes the parameters pipeward/drift.hpp declares (the launcher checks
// its arguments against that table).
PIPEWARD_DRIFT_CUDA_KERNELS(PIPEWARD_CHECK_CUDA_KERNEL)
