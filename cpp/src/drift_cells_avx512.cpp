// Cell finding built with AVX-512 (see drift_cells_find.hpp; picked at run time): eight values
// at a time take their grid bracket and the edges around it by gathers; a lane whose bracket
// holds more than one edge, fails the exact check or lies outside the grid (NaN, tails) is
// finished by CellFinder::find, so every cell equals the portable one.
#include <immintrin.h>

#include "drift_cells_find.hpp"

namespace pipeward::drift {

void find_cells_avx512(const CellFinder& finder, const double* values, int64_t n,
                       int32_t* cells) {
  int64_t i = 0;
  if (finder.grid > 0) {
    const double* e = finder.e;
    const int32_t* below = finder.below.data();
    const __m512d lo = _mm512_set1_pd(finder.lo), inv = _mm512_set1_pd(finder.inv);
    const __m512d last = _mm512_set1_pd(e[finder.finite - 1]);
    const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi32(1);
    const __m256i top = _mm256_set1_epi32(static_cast<int32_t>(finder.grid - 1));
    const __m256i finite = _mm256_set1_epi32(static_cast<int32_t>(finder.finite));
    const __m256i last_edge = _mm256_set1_epi32(static_cast<int32_t>(finder.finite - 1));
    for (; i + 8 <= n; i += 8) {
      const __m512d v = _mm512_loadu_pd(values + i);
      const __mmask8 inside = _mm512_cmp_pd_mask(v, lo, _CMP_GE_OQ) &
                              _mm512_cmp_pd_mask(v, last, _CMP_LT_OQ);
      // Lanes outside the grid get bracket 0, which the mask then discards.
      const __m512d t = _mm512_maskz_mul_pd(inside, _mm512_sub_pd(v, lo), inv);
      const __m256i g = _mm256_min_epi32(_mm256_max_epi32(_mm512_cvttpd_epi32(t), zero), top);
      const __m256i a = _mm256_i32gather_epi32(below, g, 4);
      const __m256i b = _mm256_i32gather_epi32(below, _mm256_add_epi32(g, one), 4);
      // Clamped indices keep every gather in bounds; the conditions below ignore those lanes.
      const __m512d e_below = _mm512_i32gather_pd(_mm256_max_epi32(_mm256_sub_epi32(a, one), zero), e, 8);
      const __m512d e_above = _mm512_i32gather_pd(_mm256_min_epi32(b, last_edge), e, 8);
      const __m512d e_mid = _mm512_i32gather_pd(_mm256_min_epi32(a, last_edge), e, 8);
      __mmask8 ok = inside & _mm256_cmple_epi32_mask(_mm256_sub_epi32(b, a), one);
      ok &= _mm256_cmpeq_epi32_mask(a, zero) | _mm512_cmp_pd_mask(e_below, v, _CMP_LE_OQ);
      ok &= _mm256_cmpeq_epi32_mask(b, finite) | _mm512_cmp_pd_mask(e_above, v, _CMP_GT_OQ);
      // A bracket of one edge: count it when it is <= v.
      const __mmask8 add = _mm256_cmpneq_epi32_mask(a, b) & _mm512_cmp_pd_mask(e_mid, v, _CMP_LE_OQ);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(cells + i), _mm256_mask_add_epi32(a, add, a, one));
      for (unsigned rest = static_cast<unsigned>(~ok) & 0xFFu; rest != 0; rest &= rest - 1) {
        const int k = __builtin_ctz(rest);
        cells[i + k] = static_cast<int32_t>(finder.find(values[i + k]));
      }
    }
  }
  for (; i < n; ++i) cells[i] = static_cast<int32_t>(finder.find(values[i]));
}

}  // namespace pipeward::drift
