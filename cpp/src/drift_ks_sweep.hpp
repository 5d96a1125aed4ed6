// The bucketed KS statistic's sweep over a block of features: every value's bucket under a
// monotone per-feature map, and each feature's bucket counts. It is the one pass that reads
// the whole table, so it is built per instruction set (drift_ks_sweep.cpp, *_avx2.cpp, *_avx512.cpp;
// chosen at run time). Private to those files and drift_ks_buckets.cpp.
#pragma once

#include <cstdint>
#include <cstring>

namespace pipeward::drift {

// A "symmetric log" that preserves order: how far |v|'s IEEE bits lie above eps_bits (0 below),
// signed like v. IEEE bits grow about linearly in log2 |v|, so equal-width buckets of it suit
// data spanning many magnitudes (heavy tails, skewed positives) where equal width in v would
// put nearly everything in one bucket.
inline double symlog(double v, int64_t eps_bits) {
  int64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  const int64_t magnitude = bits & INT64_MAX;
  const double x = static_cast<double>(magnitude > eps_bits ? magnitude - eps_bits : 0);
  return bits < 0 ? -x : x;
}

// Bucket of v: the integer part of its position t = (x - lo) * scale clamped to [0, last],
// x = v or, with eps_bits >= 0, symlog(v): non-decreasing in v (each step is monotone; an
// overflow to +-inf clamps to an end), -0.0 with +0.0. No multiply-add is involved, so every
// build and lane rounds it alike. v is not NaN.
inline double bucket_position(double v, double lo, double scale, double last,
                              int64_t eps_bits = -1) {
  if (eps_bits >= 0) v = symlog(v, eps_bits);
  double t = (v - lo) * scale;
  t = t > 0.0 ? t : 0.0;
  t = t < last ? t : last;
  return t;
}
inline int64_t bucket_of(double v, double lo, double scale, double last, int64_t eps_bits = -1) {
  return static_cast<int32_t>(bucket_position(v, lo, scale, last, eps_bits));
}

// The sub-bucket of position t inside bucket k: the first `bits` bits of t's fraction. t - k
// is exact (Sterbenz) and so is scaling by a power of two, so sub-buckets are non-decreasing
// in v within a bucket. Clamped to [0, 2^bits).
inline int64_t sub_bucket_at(double t, int64_t k, int bits) {
  const int64_t top = int64_t{1} << bits;
  int64_t s = static_cast<int64_t>((t - static_cast<double>(k)) * static_cast<double>(top));
  s = s < 0 ? 0 : s;
  return s < top ? s : top - 1;
}

// The sub-bucket of v inside its bucket k (sub_bucket_at of v's position).
inline int64_t sub_bucket_of(double v, double lo, double scale, double last, int64_t eps_bits,
                             int64_t k, int bits) {
  return sub_bucket_at(bucket_position(v, lo, scale, last, eps_bits), k, bits);
}

// A block's maps: feature c's lo[c], scale[c] and eps_bits[c] (-1: linear), buckets 0..last,
// NaNs in bucket last + 1; counts are `width` = last + 2 per feature.
struct SweepMaps {
  const double* lo;
  const double* scale;
  const int64_t* eps_bits;
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
                               int64_t eps_bits, int64_t* end);                                \
  void ks_sorted_ends_##suffix(const double* a, int64_t n, double lo, double scale,            \
                               double last, int64_t eps_bits, int64_t* end);
// The kept values of a sweep: for the flat ids[0..n) (row-major, `count` features a row), write
// each e whose bucket ids[e] of feature e % count has its bit set in kept (words_per_feature
// 32-bit words a feature) to out, in order; returns how many.
#define PIPEWARD_KS_KEPT_DECL(suffix)                                                         \
  int64_t ks_kept_##suffix(const uint16_t* ids, int64_t n, int64_t count, const uint32_t* kept, \
                           int64_t words_per_feature, int64_t* out);
PIPEWARD_KS_KEPT_DECL(portable)
PIPEWARD_KS_KEPT_DECL(avx2)
PIPEWARD_KS_KEPT_DECL(avx512)
#undef PIPEWARD_KS_KEPT_DECL

// The zoomed values of a sweep (the Dask zoom pass, drift_ks_buckets.cpp): for rows s < n of
// features c < count (count <= 32, feature c taking part only if bit c of `active` is set),
// each value that is not NaN and whose bucket has its bit set in zoomed (words_per_feature
// 32-bit words a feature) is listed in row-major order: hit[m] = s * 32 + c and position[m] =
// its bucket_position, bit for bit. Returns m; hit and position have room for n * count + 8
// (a vector store may write up to eight entries past the last). No branch depends on the data:
// zoomed values are a coin flip away, and a mispredicted branch per value cost more than the
// rest of its work.
#define PIPEWARD_KS_ZOOMED_DECL(suffix)                                                        \
  int64_t ks_zoomed_##suffix(const float* base, int64_t n, int64_t sample_stride,              \
                             int64_t feature_stride, int64_t count, uint32_t active,           \
                             const SweepMaps& maps, const uint32_t* zoomed,                    \
                             int64_t words_per_feature, int32_t* hit, double* position);       \
  int64_t ks_zoomed_##suffix(const double* base, int64_t n, int64_t sample_stride,             \
                             int64_t feature_stride, int64_t count, uint32_t active,           \
                             const SweepMaps& maps, const uint32_t* zoomed,                    \
                             int64_t words_per_feature, int32_t* hit, double* position);
PIPEWARD_KS_ZOOMED_DECL(portable)
PIPEWARD_KS_ZOOMED_DECL(avx2)
PIPEWARD_KS_ZOOMED_DECL(avx512)
#undef PIPEWARD_KS_ZOOMED_DECL

// For ascending a[0..n): end[b] = 1 + the last index whose bucket is b (buckets are runs, so
// the counts follow from these ends; end[] of empty buckets is left as it was).
PIPEWARD_KS_SWEEP_DECL(portable)
PIPEWARD_KS_SWEEP_DECL(avx512)
// AVX2 has the sweep and the kept scan; sorted run ends need a scatter (portable there).
void ks_sweep_avx2(const float* base, int64_t n, int64_t sample_stride, int64_t feature_stride,
                   int64_t count, const SweepMaps& maps, uint16_t* ids, uint32_t* counts);
void ks_sweep_avx2(const double* base, int64_t n, int64_t sample_stride, int64_t feature_stride,
                   int64_t count, const SweepMaps& maps, uint16_t* ids, uint32_t* counts);
#undef PIPEWARD_KS_SWEEP_DECL

namespace {

// Rows are a stride apart: fetch this many ahead, or the sweep waits on memory at every row.
constexpr int64_t kSweepAhead = 32;

// The vector sweeps' prefetch: every cache line of the row kSweepAhead rows on (its `count`
// features contiguous), to L2, so that the fill buffers stay free.
template <typename T>
inline void prefetch_row_ahead(const T* row, int64_t s, int64_t n, int64_t sample_stride,
                               int64_t count) {
  if (s + kSweepAhead >= n) return;
  const char* ahead = reinterpret_cast<const char*>(row + kSweepAhead * sample_stride);
  for (int64_t line = 0; line < count * static_cast<int64_t>(sizeof(T)); line += 64) {
    __builtin_prefetch(ahead + line, 0, 1);
  }
}

// Feature c's value v of a row: its bucket into id[c], counted (NaN: the last bucket).
template <typename T>
inline void count_value(T v, int64_t c, const SweepMaps& maps, uint16_t* id, uint32_t* counts) {
  const int64_t b = v != v ? maps.width - 1
                           : bucket_of(static_cast<double>(v), maps.lo[c], maps.scale[c],
                                       maps.last, maps.eps_bits[c]);
  id[c] = static_cast<uint16_t>(b);
  ++counts[c * maps.width + b];
}

template <typename T>
inline void ks_sweep_scalar(const T* base, int64_t n, int64_t sample_stride,
                            int64_t feature_stride, int64_t count, const SweepMaps& maps,
                            uint16_t* ids, uint32_t* counts) {
  for (int64_t s = 0; s < n; ++s) {
    const T* row = base + s * sample_stride;
    if (s + kSweepAhead < n) {
      for (int64_t c = 0; c < count; c += 64 / static_cast<int64_t>(sizeof(T))) {
        __builtin_prefetch(row + kSweepAhead * sample_stride + c * feature_stride);
      }
    }
    for (int64_t c = 0; c < count; ++c) {
      count_value(row[c * feature_stride], c, maps, ids + s * count, counts);
    }
  }
}

inline int64_t ks_kept_scalar(const uint16_t* ids, int64_t e0, int64_t n, int64_t count,
                              const uint32_t* kept, int64_t words_per_feature, int64_t* out) {
  int64_t m = 0, c = e0 % count;
  for (int64_t e = e0; e < n; ++e) {
    const uint32_t k = ids[e];
    out[m] = e;  // branch-free: kept values are a coin flip away
    m += (kept[c * words_per_feature + k / 32] >> (k % 32)) & 1;
    c = c + 1 == count ? 0 : c + 1;
  }
  return m;
}

// Feature c's value v of row s listed at m if zoomed (ks_zoomed); returns the new m.
template <typename T>
inline int64_t append_zoomed(T v, int64_t s, int64_t c, const SweepMaps& maps,
                             const uint32_t* zoomed, int64_t words_per_feature, int32_t* hit,
                             double* position, int64_t m) {
  const double t = bucket_position(v == v ? static_cast<double>(v) : 0.0, maps.lo[c],
                                   maps.scale[c], maps.last, maps.eps_bits[c]);
  const uint32_t k = static_cast<uint32_t>(static_cast<int32_t>(t));
  const uint32_t bit = (zoomed[c * words_per_feature + k / 32] >> (k % 32)) & 1;
  hit[m] = static_cast<int32_t>(s * 32 + c);
  position[m] = t;
  return m + (bit & static_cast<uint32_t>(v == v));
}

// ks_zoomed for rows s0 <= s < n, appending at m; returns the new m.
template <typename T>
inline int64_t ks_zoomed_scalar(const T* base, int64_t s0, int64_t n, int64_t sample_stride,
                                int64_t feature_stride, int64_t count, uint32_t active,
                                const SweepMaps& maps, const uint32_t* zoomed,
                                int64_t words_per_feature, int32_t* hit, double* position,
                                int64_t m) {
  for (int64_t s = s0; s < n; ++s) {
    const T* row = base + s * sample_stride;
    if (s + kSweepAhead < n) {
      for (int64_t c = 0; c < count; c += 64 / static_cast<int64_t>(sizeof(T))) {
        __builtin_prefetch(row + kSweepAhead * sample_stride + c * feature_stride);
      }
    }
    for (int64_t c = 0; c < count; ++c) {
      if (((active >> c) & 1) == 0) continue;  // the same for every row
      m = append_zoomed(row[c * feature_stride], s, c, maps, zoomed, words_per_feature, hit,
                        position, m);
    }
  }
  return m;
}

template <typename T>
inline void ks_sorted_ends_scalar(const T* a, int64_t i0, int64_t n, double lo, double scale,
                                  double last, int64_t eps_bits, int64_t* end) {
  for (int64_t i = i0; i < n; ++i) {
    end[bucket_of(static_cast<double>(a[i]), lo, scale, last, eps_bits)] = i + 1;
  }
}

}  // namespace

}  // namespace pipeward::drift
