// The bucketed KS statistic's sweep over a block of features: every value's bucket under a
// monotone per-feature map, and each feature's bucket counts. It is the one pass that reads
// the whole table, so it is built per instruction set (drift_ks_sweep.cpp, *_avx512.cpp;
// chosen at run time). Private to those files and drift_ks_buckets.cpp.
#pragma once

#include <cstdint>

namespace pipeward::drift {

// Bucket of v under the map t = (v - lo) * scale clamped to [0, last]: non-decreasing in v
// (each IEEE step is monotone; an overflow to +-inf clamps to an end), -0.0 with +0.0. No
// multiply-add is involved, so every build and lane rounds it alike. v is not NaN.
inline int64_t bucket_of(double v, double lo, double scale, double last) {
  double t = (v - lo) * scale;
  t = t > 0.0 ? t : 0.0;
  t = t < last ? t : last;
  return static_cast<int32_t>(t);
}

// A block's maps: feature c's lo[c] and scale[c], buckets 0..last, NaNs in bucket last + 1;
// counts are `width` = last + 2 per feature.
struct SweepMaps {
  const double* lo;
  const double* scale;
  double last;
  int64_t width;
};

// For rows s < n of features c < count (value at base[s * sample_stride + c * feature_stride]):
// ids[s * count + c] = bucket, ++counts[c * width + bucket].
#define PIPEWARD_KS_SWEEP_DECL(suffix)                                                        \
  void ks_sweep_##suffix(const float* base, int64_t n, int64_t sample_stride,                  \
                         int64_t feature_stride, int64_t count, const SweepMaps& maps,         \
                         uint16_t* ids, uint32_t* counts);                                     \
  void ks_sweep_##suffix(const double* base, int64_t n, int64_t sample_stride,                 \
                         int64_t feature_stride, int64_t count, const SweepMaps& maps,         \
                         uint16_t* ids, uint32_t* counts);                                     \
  void ks_sorted_ends_##suffix(const float* a, int64_t n, double lo, double scale, double last, \
                               int64_t* end);                                                  \
  void ks_sorted_ends_##suffix(const double* a, int64_t n, double lo, double scale,            \
                               double last, int64_t* end);
// For ascending a[0..n): end[b] = 1 + the last index whose bucket is b (buckets are runs, so
// the counts follow from these ends; end[] of empty buckets is left as it was).
PIPEWARD_KS_SWEEP_DECL(portable)
PIPEWARD_KS_SWEEP_DECL(avx512)
#undef PIPEWARD_KS_SWEEP_DECL

namespace {

// Rows are a stride apart: fetch this many ahead, or the sweep waits on memory at every row.
constexpr int64_t kSweepAhead = 32;

template <typename T>
inline void ks_sweep_scalar(const T* base, int64_t n, int64_t sample_stride,
                            int64_t feature_stride, int64_t count, const SweepMaps& maps,
                            int64_t s0, uint16_t* ids, uint32_t* counts) {
  const int64_t nan_bucket = maps.width - 1;
  for (int64_t s = s0; s < n; ++s) {
    const T* row = base + s * sample_stride;
    if (s + kSweepAhead < n) {
      for (int64_t c = 0; c < count; c += 64 / static_cast<int64_t>(sizeof(T))) {
        __builtin_prefetch(row + kSweepAhead * sample_stride + c * feature_stride);
      }
    }
    for (int64_t c = 0; c < count; ++c) {
      const T v = row[c * feature_stride];
      const int64_t b = v != v ? nan_bucket
                               : bucket_of(static_cast<double>(v), maps.lo[c], maps.scale[c],
                                           maps.last);
      ids[s * count + c] = static_cast<uint16_t>(b);
      ++counts[c * maps.width + b];
    }
  }
}

template <typename T>
inline void ks_sorted_ends_scalar(const T* a, int64_t i0, int64_t n, double lo, double scale,
                                  double last, int64_t* end) {
  for (int64_t i = i0; i < n; ++i) end[bucket_of(static_cast<double>(a[i]), lo, scale, last)] = i + 1;
}

}  // namespace

}  // namespace pipeward::drift
