// The KS bucket sweep, kept-value scan and zoomed-value listing with AVX2 (see
// drift_ks_sweep.hpp), for machines without AVX-512: each four contiguous features of a row
// are one vector (the last, partial one through masked loads); the map is the same subtract,
// multiply and clamp as bucket_of, lane by lane, so the buckets agree bit for bit with the
// portable build. A group of features with a symmetric-log map (AVX2 has no 64-bit integer max
// or conversion) goes through the scalar bucket_of.
#include <immintrin.h>

#include <algorithm>

#include "drift_ks_sweep.hpp"

namespace pipeward::drift {

namespace {

inline __m256d load_row(const double* row) { return _mm256_loadu_pd(row); }
inline __m256d load_row(const float* row) { return _mm256_cvtps_pd(_mm_loadu_ps(row)); }
// The first `width` lanes only (the others read nothing, they may lie past the row, and are 0).
inline __m256d load_lanes(const double* row, int width) {
  const __m256i lanes = _mm256_cmpgt_epi64(_mm256_set1_epi64x(width), _mm256_setr_epi64x(0, 1, 2, 3));
  return _mm256_maskload_pd(row, lanes);
}
inline __m256d load_lanes(const float* row, int width) {
  const __m128i lanes = _mm_cmpgt_epi32(_mm_set1_epi32(width), _mm_setr_epi32(0, 1, 2, 3));
  return _mm256_cvtps_pd(_mm_maskload_ps(row, lanes));
}

// Buckets of four values by the map lo, scale (bucket_of lane by lane), NaN lanes in nan_bucket.
inline __m128i buckets4(__m256d v, __m256d lo, __m256d scale, __m256d last, __m128i nan_bucket) {
  const __m256d nan = _mm256_cmp_pd(v, v, _CMP_UNORD_Q);
  __m256d t = _mm256_mul_pd(_mm256_sub_pd(v, lo), scale);
  t = _mm256_max_pd(t, _mm256_setzero_pd());  // t > 0 ? t : 0 as bucket_of; NaN lanes below
  t = _mm256_min_pd(t, last);
  // The NaN lanes' 64-bit masks narrowed to 32 bits (the low halves, by a float convert of
  // all-ones: NaN, whose sign bit blendv reads).
  const __m128 nan32 = _mm256_cvtpd_ps(nan);
  return _mm_castps_si128(_mm_blendv_ps(_mm_castsi128_ps(_mm256_cvttpd_epi32(t)),
                                        _mm_castsi128_ps(nan_bucket), nan32));
}

template <typename T>
void sweep(const T* base, int64_t n, int64_t sample_stride, int64_t feature_stride,
           int64_t count, const SweepMaps& maps, uint16_t* ids, uint32_t* counts) {
  // Vectors of four features; the count % 4 left over form one more under a lane mask.
  const int64_t whole = feature_stride == 1 ? count / 4 : 0;
  const int tail = feature_stride == 1 ? static_cast<int>(count % 4) : 0;
  const int64_t groups = whole + (tail > 0);
  constexpr int kMaxGroups = 8;
  if (groups == 0 || groups > kMaxGroups) {
    ks_sweep_scalar(base, n, sample_stride, feature_stride, count, maps, ids, counts);
    return;
  }
  __m256d lo[kMaxGroups], scale[kMaxGroups];
  __m128i offsets[kMaxGroups];
  bool linear[kMaxGroups];
  for (int64_t g = 0; g < groups; ++g) {
    const int width = g < whole ? 4 : tail;
    lo[g] = load_lanes(maps.lo + 4 * g, width);
    scale[g] = load_lanes(maps.scale + 4 * g, width);
    linear[g] = true;
    for (int c = 0; c < width; ++c) linear[g] = linear[g] && maps.eps_bits[4 * g + c] < 0;
    offsets[g] = _mm_mullo_epi32(
        _mm_add_epi32(_mm_setr_epi32(0, 1, 2, 3), _mm_set1_epi32(static_cast<int32_t>(4 * g))),
        _mm_set1_epi32(static_cast<int32_t>(maps.width)));
  }
  const __m256d last = _mm256_set1_pd(maps.last);
  const __m128i nan_bucket = _mm_set1_epi32(static_cast<int32_t>(maps.width - 1));
  alignas(16) int32_t slot[4];
  alignas(16) uint16_t tail_ids[8];
  for (int64_t s = 0; s < n; ++s) {
    const T* row = base + s * sample_stride;
    prefetch_row_ahead(row, s, n, sample_stride, count);
    uint16_t* id = ids + s * count;
    for (int64_t g = 0; g < whole; ++g) {
      if (!linear[g]) {
        for (int64_t c = 4 * g; c < 4 * g + 4; ++c) count_value(row[c], c, maps, id, counts);
        continue;
      }
      const __m128i b = buckets4(load_row(row + 4 * g), lo[g], scale[g], last, nan_bucket);
      _mm_storel_epi64(reinterpret_cast<__m128i*>(id + 4 * g), _mm_packus_epi32(b, b));
      _mm_store_si128(reinterpret_cast<__m128i*>(slot), _mm_add_epi32(b, offsets[g]));
      for (int c = 0; c < 4; ++c) ++counts[slot[c]];
    }
    if (tail == 0) continue;
    if (!linear[whole]) {
      for (int64_t c = 4 * whole; c < count; ++c) count_value(row[c], c, maps, id, counts);
      continue;
    }
    const __m128i b = buckets4(load_lanes(row + 4 * whole, tail), lo[whole], scale[whole], last,
                               nan_bucket);
    _mm_store_si128(reinterpret_cast<__m128i*>(tail_ids), _mm_packus_epi32(b, b));
    _mm_store_si128(reinterpret_cast<__m128i*>(slot), _mm_add_epi32(b, offsets[whole]));
    for (int c = 0; c < tail; ++c) {  // the ids row ends inside this vector
      id[4 * whole + c] = tail_ids[c];
      ++counts[slot[c]];
    }
  }
}

// Compress for four lanes, by permutation: for a mask of lanes, the indices that move them to
// the front, as 32-bit lanes of four doubles (pairs) and of four 32-bit values.
struct PackTables {
  alignas(32) int32_t doubles[16][8];
  alignas(32) int32_t words[16][8];
  constexpr PackTables() : doubles{}, words{} {
    for (int mask = 0; mask < 16; ++mask) {
      int to = 0;
      for (int lane = 0; lane < 4; ++lane) {
        if (((mask >> lane) & 1) == 0) continue;
        doubles[mask][2 * to] = 2 * lane;
        doubles[mask][2 * to + 1] = 2 * lane + 1;
        words[mask][to] = lane;
        ++to;
      }
    }
  }
};
constexpr PackTables kPack;

// Four features of a row a vector as the sweep (a group with a symmetric-log map lane by lane);
// the zoomed lanes are moved to the front by one permutation and stored whole.
template <typename T>
int64_t zoomed_values(const T* base, int64_t n, int64_t sample_stride, int64_t feature_stride,
                      int64_t count, uint32_t active, const SweepMaps& maps,
                      const uint32_t* zoomed, int64_t words_per_feature, int32_t* hit,
                      double* position) {
  const int64_t groups = feature_stride == 1 ? (count + 3) / 4 : 0;
  constexpr int kMaxGroups = 8;
  if (groups == 0 || groups > kMaxGroups) {
    return ks_zoomed_scalar(base, 0, n, sample_stride, feature_stride, count, active, maps,
                            zoomed, words_per_feature, hit, position, 0);
  }
  __m256d lo[kMaxGroups], scale[kMaxGroups];
  __m128i feature[kMaxGroups], word0[kMaxGroups];
  int width[kMaxGroups], take[kMaxGroups];
  bool linear[kMaxGroups];
  for (int64_t g = 0; g < groups; ++g) {
    width[g] = static_cast<int>(std::min<int64_t>(4, count - 4 * g));
    take[g] = static_cast<int>((active >> (4 * g)) & ((1u << width[g]) - 1));
    lo[g] = load_lanes(maps.lo + 4 * g, width[g]);
    scale[g] = load_lanes(maps.scale + 4 * g, width[g]);
    linear[g] = true;
    for (int c = 0; c < width[g]; ++c) linear[g] = linear[g] && maps.eps_bits[4 * g + c] < 0;
    feature[g] = _mm_add_epi32(_mm_setr_epi32(0, 1, 2, 3),
                               _mm_set1_epi32(static_cast<int32_t>(4 * g)));
    word0[g] = _mm_mullo_epi32(feature[g],
                               _mm_set1_epi32(static_cast<int32_t>(words_per_feature)));
  }
  const __m256d zero = _mm256_setzero_pd(), last = _mm256_set1_pd(maps.last);
  const __m128i low5 = _mm_set1_epi32(31), one = _mm_set1_epi32(1);
  int64_t m = 0;
  for (int64_t s = 0; s < n; ++s) {
    const T* row = base + s * sample_stride;
    prefetch_row_ahead(row, s, n, sample_stride, count);
    const __m128i row_hit = _mm_set1_epi32(static_cast<int32_t>(s * 32));
    for (int64_t g = 0; g < groups; ++g) {
      if (take[g] == 0) continue;  // the same for every row
      if (!linear[g]) {
        for (int c = 0; c < width[g]; ++c) {
          if ((take[g] >> c) & 1) {
            m = append_zoomed(row[4 * g + c], s, 4 * g + c, maps, zoomed, words_per_feature,
                              hit, position, m);
          }
        }
        continue;
      }
      const __m256d v = width[g] == 4 ? load_row(row + 4 * g) : load_lanes(row + 4 * g, width[g]);
      const int nan = _mm256_movemask_pd(_mm256_cmp_pd(v, v, _CMP_UNORD_Q));
      __m256d t = _mm256_mul_pd(_mm256_sub_pd(v, lo[g]), scale[g]);
      t = _mm256_max_pd(t, zero);  // NaN lanes become 0 here and are dropped below
      t = _mm256_min_pd(t, last);
      const __m128i k = _mm256_cvttpd_epi32(t);
      const __m128i word = _mm_i32gather_epi32(reinterpret_cast<const int*>(zoomed),
                                               _mm_add_epi32(word0[g], _mm_srli_epi32(k, 5)), 4);
      const __m128i bit = _mm_and_si128(_mm_srlv_epi32(word, _mm_and_si128(k, low5)), one);
      const int in = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(bit, one))) & take[g] & ~nan;
      const __m256i to_doubles = _mm256_load_si256(reinterpret_cast<const __m256i*>(kPack.doubles[in]));
      const __m256i to_words = _mm256_load_si256(reinterpret_cast<const __m256i*>(kPack.words[in]));
      _mm256_storeu_pd(position + m, _mm256_castps_pd(_mm256_permutevar8x32_ps(
                                         _mm256_castpd_ps(t), to_doubles)));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(hit + m),
                       _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(
                           _mm256_castsi128_si256(_mm_add_epi32(row_hit, feature[g])), to_words)));
      m += __builtin_popcount(static_cast<unsigned>(in));
    }
  }
  return m;
}

}  // namespace

// Eight ids at a time: their features' bitmap words by one gather (the bitmap sits in L1),
// and only a vector with a kept lane leaves the fast path.
int64_t ks_kept_avx2(const uint16_t* ids, int64_t n, int64_t count, const uint32_t* kept,
                     int64_t words_per_feature, int64_t* out) {
  if (count < 8) return ks_kept_scalar(ids, 0, n, count, kept, words_per_feature, out);
  __m256i feature = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i last_feature = _mm256_set1_epi32(static_cast<int32_t>(count - 1));
  const __m256i vcount = _mm256_set1_epi32(static_cast<int32_t>(count));
  const __m256i eight = _mm256_set1_epi32(8);
  const __m256i words = _mm256_set1_epi32(static_cast<int32_t>(words_per_feature));
  const __m256i low5 = _mm256_set1_epi32(31), one = _mm256_set1_epi32(1);
  int64_t m = 0, e = 0;
  for (; e + 8 <= n; e += 8) {
    const __m256i k = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ids + e)));
    const __m256i word = _mm256_add_epi32(_mm256_mullo_epi32(feature, words),
                                          _mm256_srli_epi32(k, 5));
    const __m256i bits = _mm256_i32gather_epi32(reinterpret_cast<const int*>(kept), word, 4);
    const __m256i bit = _mm256_and_si256(_mm256_srlv_epi32(bits, _mm256_and_si256(k, low5)), one);
    unsigned hit = static_cast<unsigned>(
        _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(bit, one))));
    while (hit) {
      out[m++] = e + __builtin_ctz(hit);
      hit &= hit - 1;
    }
    // Next eight: each lane's feature moves on by 8 (count >= 8: at most one wrap).
    feature = _mm256_add_epi32(feature, eight);
    feature = _mm256_sub_epi32(
        feature, _mm256_and_si256(_mm256_cmpgt_epi32(feature, last_feature), vcount));
  }
  return m + ks_kept_scalar(ids, e, n, count, kept, words_per_feature, out + m);
}

void ks_sweep_avx2(const float* base, int64_t n, int64_t sample_stride, int64_t feature_stride,
                   int64_t count, const SweepMaps& maps, uint16_t* ids, uint32_t* counts) {
  sweep(base, n, sample_stride, feature_stride, count, maps, ids, counts);
}

void ks_sweep_avx2(const double* base, int64_t n, int64_t sample_stride, int64_t feature_stride,
                   int64_t count, const SweepMaps& maps, uint16_t* ids, uint32_t* counts) {
  sweep(base, n, sample_stride, feature_stride, count, maps, ids, counts);
}

int64_t ks_zoomed_avx2(const float* base, int64_t n, int64_t sample_stride,
                       int64_t feature_stride, int64_t count, uint32_t active,
                       const SweepMaps& maps, const uint32_t* zoomed, int64_t words_per_feature,
                       int32_t* hit, double* position) {
  return zoomed_values(base, n, sample_stride, feature_stride, count, active, maps, zoomed,
                       words_per_feature, hit, position);
}

int64_t ks_zoomed_avx2(const double* base, int64_t n, int64_t sample_stride,
                       int64_t feature_stride, int64_t count, uint32_t active,
                       const SweepMaps& maps, const uint32_t* zoomed, int64_t words_per_feature,
                       int32_t* hit, double* position) {
  return zoomed_values(base, n, sample_stride, feature_stride, count, active, maps, zoomed,
                       words_per_feature, hit, position);
}

}  // namespace pipeward::drift
