// The KS bucket sweep, kept-value scan and zoomed-value listing with AVX-512 (see
// drift_ks_sweep.hpp): each eight contiguous features of a row are one vector (the last,
// partial one under a lane mask); the map is the same subtract and multiply as bucket_of, lane
// by lane, so the buckets agree bit for bit with the portable build.
#include <immintrin.h>

#include <algorithm>

#include "drift_ks_sweep.hpp"

namespace pipeward::drift {

namespace {

inline __m512d load_row(const double* row) { return _mm512_loadu_pd(row); }
inline __m512d load_row(const float* row) { return _mm512_cvtps_pd(_mm256_loadu_ps(row)); }
// The lanes in `lanes` only: the others read nothing (they may lie past the row) and are 0.
inline __m512d load_lanes(const double* row, __mmask8 lanes) {
  return _mm512_maskz_loadu_pd(lanes, row);
}
inline __m512d load_lanes(const float* row, __mmask8 lanes) {
  return _mm512_cvtps_pd(_mm256_maskz_loadu_ps(lanes, row));
}

// symlog (drift_ks_sweep.hpp) in the lanes of `log`, v itself in the others.
inline __m512d maybe_symlog(__m512d v, __m512i eps_bits, __mmask8 log) {
  const __m512i bits = _mm512_castpd_si512(v);
  const __m512i sign = _mm512_and_si512(bits, _mm512_set1_epi64(INT64_MIN));
  const __m512i magnitude = _mm512_and_si512(bits, _mm512_set1_epi64(INT64_MAX));
  const __m512i above = _mm512_max_epi64(_mm512_sub_epi64(magnitude, eps_bits),
                                         _mm512_setzero_si512());
  const __m512d x = _mm512_castsi512_pd(
      _mm512_or_si512(_mm512_castpd_si512(_mm512_cvtepi64_pd(above)), sign));
  return _mm512_mask_blend_pd(log, v, x);
}

template <typename T>
void sweep(const T* base, int64_t n, int64_t sample_stride, int64_t feature_stride,
           int64_t count, const SweepMaps& maps, uint16_t* ids, uint32_t* counts) {
  // Vectors of eight features; the last holds the count % 8 left over under a lane mask, so a
  // block whose width is not a multiple of 8 (20 features: 8 + 8 + 4) never drops to scalar.
  const int64_t groups = feature_stride == 1 ? (count + 7) / 8 : 0;
  constexpr int kMaxGroups = 4;
  if (groups == 0 || groups > kMaxGroups) {
    ks_sweep_scalar(base, n, sample_stride, feature_stride, count, maps, ids, counts);
    return;
  }
  __m512d lo[kMaxGroups], scale[kMaxGroups];
  __m512i eps[kMaxGroups];
  __mmask8 log[kMaxGroups], lanes[kMaxGroups];
  int width[kMaxGroups];  // features in the group
  __m256i offsets[kMaxGroups];
  for (int64_t g = 0; g < groups; ++g) {
    width[g] = static_cast<int>(std::min<int64_t>(8, count - 8 * g));
    lanes[g] = static_cast<__mmask8>((1u << width[g]) - 1);
    lo[g] = _mm512_maskz_loadu_pd(lanes[g], maps.lo + 8 * g);
    scale[g] = _mm512_maskz_loadu_pd(lanes[g], maps.scale + 8 * g);
    eps[g] = _mm512_mask_loadu_epi64(_mm512_set1_epi64(-1), lanes[g], maps.eps_bits + 8 * g);
    log[g] = _mm512_cmpge_epi64_mask(eps[g], _mm512_setzero_si512());
    offsets[g] = _mm256_mullo_epi32(
        _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                         _mm256_set1_epi32(static_cast<int32_t>(8 * g))),
        _mm256_set1_epi32(static_cast<int32_t>(maps.width)));
  }
  const __m512d zero = _mm512_setzero_pd(), last = _mm512_set1_pd(maps.last);
  const __m256i nan_bucket = _mm256_set1_epi32(static_cast<int32_t>(maps.width - 1));
  alignas(32) int32_t slot[8];
  for (int64_t s = 0; s < n; ++s) {
    const T* row = base + s * sample_stride;
    prefetch_row_ahead(row, s, n, sample_stride, count);
    uint16_t* id = ids + s * count;
    for (int64_t g = 0; g < groups; ++g) {
      const __m512d v = width[g] == 8 ? load_row(row + 8 * g) : load_lanes(row + 8 * g, lanes[g]);
      const __mmask8 nan = _mm512_cmp_pd_mask(v, v, _CMP_UNORD_Q);
      const __m512d x = log[g] ? maybe_symlog(v, eps[g], log[g]) : v;
      __m512d t = _mm512_mul_pd(_mm512_sub_pd(x, lo[g]), scale[g]);
      t = _mm512_max_pd(t, zero);  // t > 0 ? t : 0 as bucket_of; NaN lanes are replaced below
      t = _mm512_min_pd(t, last);
      __m256i b = _mm512_cvttpd_epi32(t);
      b = _mm256_mask_mov_epi32(b, nan, nan_bucket);
      _mm_mask_storeu_epi16(id + 8 * g, lanes[g], _mm256_cvtepi32_epi16(b));
      _mm256_store_si256(reinterpret_cast<__m256i*>(slot), _mm256_add_epi32(b, offsets[g]));
      if (width[g] == 8) {
        for (int c = 0; c < 8; ++c) ++counts[slot[c]];
      } else {
        for (int c = 0; c < width[g]; ++c) ++counts[slot[c]];
      }
    }
  }
}

// Eight features of a row a vector as the sweep; the zoomed lanes' positions and hits are
// packed by compress and stored whole (the buffers have room past the last entry).
template <typename T>
int64_t zoomed_values(const T* base, int64_t n, int64_t sample_stride, int64_t feature_stride,
                      int64_t count, uint32_t active, const SweepMaps& maps,
                      const uint32_t* zoomed, int64_t words_per_feature, int32_t* hit,
                      double* position) {
  const int64_t groups = feature_stride == 1 ? (count + 7) / 8 : 0;
  constexpr int kMaxGroups = 4;
  if (groups == 0 || groups > kMaxGroups) {
    return ks_zoomed_scalar(base, 0, n, sample_stride, feature_stride, count, active, maps,
                            zoomed, words_per_feature, hit, position, 0);
  }
  __m512d lo[kMaxGroups], scale[kMaxGroups];
  __m512i eps[kMaxGroups];
  __mmask8 log[kMaxGroups], lanes[kMaxGroups], take[kMaxGroups];
  __m256i feature[kMaxGroups], word0[kMaxGroups];
  int width[kMaxGroups];
  for (int64_t g = 0; g < groups; ++g) {
    width[g] = static_cast<int>(std::min<int64_t>(8, count - 8 * g));
    lanes[g] = static_cast<__mmask8>((1u << width[g]) - 1);
    take[g] = static_cast<__mmask8>((active >> (8 * g)) & lanes[g]);
    lo[g] = _mm512_maskz_loadu_pd(lanes[g], maps.lo + 8 * g);
    scale[g] = _mm512_maskz_loadu_pd(lanes[g], maps.scale + 8 * g);
    eps[g] = _mm512_mask_loadu_epi64(_mm512_set1_epi64(-1), lanes[g], maps.eps_bits + 8 * g);
    log[g] = _mm512_cmpge_epi64_mask(eps[g], _mm512_setzero_si512());
    feature[g] = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                  _mm256_set1_epi32(static_cast<int32_t>(8 * g)));
    word0[g] = _mm256_mullo_epi32(feature[g],
                                  _mm256_set1_epi32(static_cast<int32_t>(words_per_feature)));
  }
  const __m512d zero = _mm512_setzero_pd(), last = _mm512_set1_pd(maps.last);
  const __m256i low5 = _mm256_set1_epi32(31), one = _mm256_set1_epi32(1);
  int64_t m = 0;
  for (int64_t s = 0; s < n; ++s) {
    const T* row = base + s * sample_stride;
    prefetch_row_ahead(row, s, n, sample_stride, count);
    const __m256i row_hit = _mm256_set1_epi32(static_cast<int32_t>(s * 32));
    for (int64_t g = 0; g < groups; ++g) {
      if (take[g] == 0) continue;  // the same for every row
      const __m512d v = width[g] == 8 ? load_row(row + 8 * g) : load_lanes(row + 8 * g, lanes[g]);
      const __mmask8 nan = _mm512_cmp_pd_mask(v, v, _CMP_UNORD_Q);
      const __m512d x = log[g] ? maybe_symlog(v, eps[g], log[g]) : v;
      __m512d t = _mm512_mul_pd(_mm512_sub_pd(x, lo[g]), scale[g]);
      t = _mm512_max_pd(t, zero);  // NaN lanes become 0 here and are dropped below
      t = _mm512_min_pd(t, last);
      const __m256i k = _mm512_cvttpd_epi32(t);
      const __m256i word = _mm256_mmask_i32gather_epi32(
          _mm256_setzero_si256(), take[g], _mm256_add_epi32(word0[g], _mm256_srli_epi32(k, 5)),
          zoomed, 4);
      const __mmask8 in = static_cast<__mmask8>(
          _mm256_test_epi32_mask(_mm256_srlv_epi32(word, _mm256_and_si256(k, low5)), one) &
          take[g] & ~nan);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(hit + m),
                          _mm256_maskz_compress_epi32(in, _mm256_add_epi32(row_hit, feature[g])));
      _mm512_storeu_pd(position + m, _mm512_maskz_compress_pd(in, t));
      m += __builtin_popcount(in);
    }
  }
  return m;
}

// Eight buckets at a time; a scatter's overlapping lanes land in lane order, so the last
// index of a run is what stays, as in the scalar loop.
template <typename T>
void sorted_ends(const T* a, int64_t n, double lo, double scale, double last, int64_t eps_bits,
                 int64_t* end) {
  const __m512d vlo = _mm512_set1_pd(lo), vscale = _mm512_set1_pd(scale);
  const __m512i eps = _mm512_set1_epi64(eps_bits);
  const __mmask8 log = eps_bits >= 0 ? 0xFF : 0;
  const __m512d zero = _mm512_setzero_pd(), vlast = _mm512_set1_pd(last);
  __m512i next = _mm512_setr_epi64(1, 2, 3, 4, 5, 6, 7, 8);
  const __m512i eight = _mm512_set1_epi64(8);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m512d x = load_row(a + i);
    if (log) x = maybe_symlog(x, eps, log);
    __m512d t = _mm512_mul_pd(_mm512_sub_pd(x, vlo), vscale);
    t = _mm512_min_pd(_mm512_max_pd(t, zero), vlast);
    _mm512_i32scatter_epi64(end, _mm512_cvttpd_epi32(t), next, 8);
    next = _mm512_add_epi64(next, eight);
  }
  ks_sorted_ends_scalar(a, i, n, lo, scale, last, eps_bits, end);
}

}  // namespace

// Sixteen ids at a time: their features' bitmap words by one gather (the bitmap sits in L1),
// and only a vector with a kept lane (about a third on continuous data) leaves the fast path.
int64_t ks_kept_avx512(const uint16_t* ids, int64_t n, int64_t count, const uint32_t* kept,
                       int64_t words_per_feature, int64_t* out) {
  if (count < 16) return ks_kept_scalar(ids, 0, n, count, kept, words_per_feature, out);
  __m512i feature = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i vcount = _mm512_set1_epi32(static_cast<int32_t>(count));
  const __m512i sixteen = _mm512_set1_epi32(16), words = _mm512_set1_epi32(
      static_cast<int32_t>(words_per_feature));
  const __m512i low5 = _mm512_set1_epi32(31), one = _mm512_set1_epi32(1);
  int64_t m = 0, e = 0;
  for (; e + 16 <= n; e += 16) {
    const __m512i k = _mm512_cvtepu16_epi32(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ids + e)));
    const __m512i word = _mm512_add_epi32(_mm512_mullo_epi32(feature, words),
                                          _mm512_srli_epi32(k, 5));
    const __m512i bits = _mm512_i32gather_epi32(word, kept, 4);
    __mmask16 hit = _mm512_test_epi32_mask(_mm512_srlv_epi32(bits, _mm512_and_si512(k, low5)), one);
    while (hit) {
      out[m++] = e + __builtin_ctz(hit);
      hit &= hit - 1;
    }
    // Next sixteen: each lane's feature moves on by 16 (count >= 16: at most one wrap).
    feature = _mm512_add_epi32(feature, sixteen);
    feature = _mm512_mask_sub_epi32(feature, _mm512_cmpge_epi32_mask(feature, vcount), feature,
                                    vcount);
  }
  return m + ks_kept_scalar(ids, e, n, count, kept, words_per_feature, out + m);
}

void ks_sorted_ends_avx512(const float* a, int64_t n, double lo, double scale, double last,
                           int64_t eps_bits, int64_t* end) {
  sorted_ends(a, n, lo, scale, last, eps_bits, end);
}

void ks_sorted_ends_avx512(const double* a, int64_t n, double lo, double scale, double last,
                           int64_t eps_bits, int64_t* end) {
  sorted_ends(a, n, lo, scale, last, eps_bits, end);
}

void ks_sweep_avx512(const float* base, int64_t n, int64_t sample_stride, int64_t feature_stride,
                     int64_t count, const SweepMaps& maps, uint16_t* ids, uint32_t* counts) {
  sweep(base, n, sample_stride, feature_stride, count, maps, ids, counts);
}

void ks_sweep_avx512(const double* base, int64_t n, int64_t sample_stride,
                     int64_t feature_stride, int64_t count, const SweepMaps& maps,
                     uint16_t* ids, uint32_t* counts) {
  sweep(base, n, sample_stride, feature_stride, count, maps, ids, counts);
}

int64_t ks_zoomed_avx512(const float* base, int64_t n, int64_t sample_stride,
                         int64_t feature_stride, int64_t count, uint32_t active,
                         const SweepMaps& maps, const uint32_t* zoomed,
                         int64_t words_per_feature, int32_t* hit, double* position) {
  return zoomed_values(base, n, sample_stride, feature_stride, count, active, maps, zoomed,
                       words_per_feature, hit, position);
}

int64_t ks_zoomed_avx512(const double* base, int64_t n, int64_t sample_stride,
                         int64_t feature_stride, int64_t count, uint32_t active,
                         const SweepMaps& maps, const uint32_t* zoomed,
                         int64_t words_per_feature, int32_t* hit, double* position) {
  return zoomed_values(base, n, sample_stride, feature_stride, count, active, maps, zoomed,
                       words_per_feature, hit, position);
}

}  // namespace pipeward::drift
