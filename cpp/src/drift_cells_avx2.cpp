// Cell finding built with AVX2 (see drift_cells_find.hpp; picked at run time): four values at
// a time, as the AVX-512 variant does eight; lanes the grid cannot settle are finished by
// CellFinder::find, so every cell equals the portable one.
#include <immintrin.h>

#include "drift_cells_find.hpp"

namespace pipeward::drift {

namespace {

// Four 32-bit lane masks widened to four 64-bit ones.
inline __m256d wide(__m128i mask) { return _mm256_castsi256_pd(_mm256_cvtepi32_epi64(mask)); }

// Four 64-bit lane masks narrowed to four 32-bit ones.
inline __m128i narrow(__m256d mask) {
  const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  return _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(_mm256_castpd_si256(mask), even));
}

}  // namespace

void find_cells_avx2(const CellFinder& finder, const double* values, int64_t n, int32_t* cells) {
  int64_t i = 0;
  if (finder.grid > 0) {
    const double* e = finder.e;
    const int* below = finder.below.data();
    const __m256d lo = _mm256_set1_pd(finder.lo), inv = _mm256_set1_pd(finder.inv);
    const __m256d last = _mm256_set1_pd(e[finder.finite - 1]);
    const __m128i zero = _mm_setzero_si128(), one = _mm_set1_epi32(1), two = _mm_set1_epi32(2);
    const __m128i top = _mm_set1_epi32(static_cast<int32_t>(finder.grid - 1));
    const __m128i finite = _mm_set1_epi32(static_cast<int32_t>(finder.finite));
    const __m128i last_edge = _mm_set1_epi32(static_cast<int32_t>(finder.finite - 1));
    for (; i + 4 <= n; i += 4) {
      const __m256d v = _mm256_loadu_pd(values + i);
      const __m256d inside = _mm256_and_pd(_mm256_cmp_pd(v, lo, _CMP_GE_OQ),
                                           _mm256_cmp_pd(v, last, _CMP_LT_OQ));
      // Lanes outside the grid get bracket 0, which the mask then discards.
      const __m256d t = _mm256_and_pd(_mm256_mul_pd(_mm256_sub_pd(v, lo), inv), inside);
      const __m128i g = _mm_min_epi32(_mm_max_epi32(_mm256_cvttpd_epi32(t), zero), top);
      const __m128i a = _mm_i32gather_epi32(below, g, 4);
      const __m128i b = _mm_i32gather_epi32(below, _mm_add_epi32(g, one), 4);
      // Clamped indices keep every gather in bounds; the conditions below ignore those lanes.
      const __m256d e_below = _mm256_i32gather_pd(e, _mm_max_epi32(_mm_sub_epi32(a, one), zero), 8);
      const __m256d e_above = _mm256_i32gather_pd(e, _mm_min_epi32(b, last_edge), 8);
      const __m256d e_mid = _mm256_i32gather_pd(e, _mm_min_epi32(a, last_edge), 8);
      __m256d ok = _mm256_and_pd(inside, wide(_mm_cmpgt_epi32(two, _mm_sub_epi32(b, a))));
      ok = _mm256_and_pd(ok, _mm256_or_pd(wide(_mm_cmpeq_epi32(a, zero)),
                                          _mm256_cmp_pd(e_below, v, _CMP_LE_OQ)));
      ok = _mm256_and_pd(ok, _mm256_or_pd(wide(_mm_cmpeq_epi32(b, finite)),
                                          _mm256_cmp_pd(e_above, v, _CMP_GT_OQ)));
      // A bracket of one edge: count it (subtract the all-ones lane) when it is <= v.
      const __m256d add = _mm256_andnot_pd(wide(_mm_cmpeq_epi32(a, b)),
                                           _mm256_cmp_pd(e_mid, v, _CMP_LE_OQ));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(cells + i), _mm_sub_epi32(a, narrow(add)));
      for (unsigned rest = ~static_cast<unsigned>(_mm256_movemask_pd(ok)) & 0xFu; rest != 0;
           rest &= rest - 1) {
        const int k = __builtin_ctz(rest);
        cells[i + k] = static_cast<int32_t>(finder.find(values[i + k]));
      }
    }
  }
  for (; i < n; ++i) cells[i] = static_cast<int32_t>(finder.find(values[i]));
}

}  // namespace pipeward::drift
