// The float32 inner loops of the clipping kernels (privacy_kernels.hpp) written by hand for
// AVX-512: each 16-float load becomes two 8-double vectors (float64 accumulation, as in every
// other path), with a software prefetch per cache line because one core alone does not keep
// enough misses in flight to stream at memory bandwidth on this Xeon.
#include <immintrin.h>

#include <cmath>
#include <cstddef>

#include "privacy_clip_avx512.hpp"

namespace pipeward::privacy::avx512 {
namespace {

inline __m512d lo8(const float* p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
inline __m512d hi8(const float* p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p + 8)); }
inline void prefetch(const float* p, int distance) {
  _mm_prefetch(reinterpret_cast<const char*>(p) + distance, _MM_HINT_T0);
}

}  // namespace

double sum_squares_f32(const float* x, std::size_t w, int distance) {
  // 32 float64 lanes: lane k sums x[j + k]^2 over j = 0, 32, 64, ... (the portable pattern).
  __m512d a0 = _mm512_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
  std::size_t j = 0;
  for (; j + 32 <= w; j += 32) {
    prefetch(x + j, distance);
    prefetch(x + j + 16, distance);
    const __m512d v0 = lo8(x + j), v1 = hi8(x + j), v2 = lo8(x + j + 16), v3 = hi8(x + j + 16);
    a0 = _mm512_fmadd_pd(v0, v0, a0);
    a1 = _mm512_fmadd_pd(v1, v1, a1);
    a2 = _mm512_fmadd_pd(v2, v2, a2);
    a3 = _mm512_fmadd_pd(v3, v3, a3);
  }
  alignas(64) double lanes[32];
  _mm512_store_pd(lanes, a0);
  _mm512_store_pd(lanes + 8, a1);
  _mm512_store_pd(lanes + 16, a2);
  _mm512_store_pd(lanes + 24, a3);
  for (std::size_t k = 0; j < w; ++j, ++k) {
    const double v = static_cast<double>(x[j]);
    lanes[k] = std::fma(v, v, lanes[k]);
  }
  double s = 0.0;
  for (double lane : lanes) s += lane;
  return s;
}

namespace {

// acc[j..j+15] += sum over R rows of f[i] x[i][j..j+15], R a compile-time count.
template <int R>
inline void accumulate16(const float* const* r, const double* f, std::size_t j, double* acc,
                         int distance) {
  __m512d lo = _mm512_loadu_pd(acc + j), hi = _mm512_loadu_pd(acc + j + 8);
  for (int i = 0; i < R; ++i) {
    prefetch(r[i] + j, distance);
    const __m512d fi = _mm512_set1_pd(f[i]);
    lo = _mm512_fmadd_pd(fi, lo8(r[i] + j), lo);
    hi = _mm512_fmadd_pd(fi, hi8(r[i] + j), hi);
  }
  _mm512_storeu_pd(acc + j, lo);
  _mm512_storeu_pd(acc + j + 8, hi);
}

template <int R>
inline void accumulate_sweep(const float* x, std::size_t cols, const double* f, std::size_t w,
                             double* acc, int distance) {
  const float* r[R];
  for (int i = 0; i < R; ++i) r[i] = x + static_cast<std::size_t>(i) * cols;
  std::size_t j = 0;
  for (; j + 16 <= w; j += 16) accumulate16<R>(r, f, j, acc, distance);
  for (; j < w; ++j) {
    double a = acc[j];
    for (int i = 0; i < R; ++i) a = std::fma(f[i], static_cast<double>(r[i][j]), a);
    acc[j] = a;
  }
}

}  // namespace

void accumulate_rows_f32(const float* x, std::size_t cols, const double* f, std::size_t n,
                         std::size_t w, double* acc, bool fresh, int distance) {
  if (fresh) {
    for (std::size_t j = 0; j < w; ++j) acc[j] = 0.0;
  }
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) accumulate_sweep<8>(x + i * cols, cols, f + i, w, acc, distance);
  for (; i + 4 <= n; i += 4) accumulate_sweep<4>(x + i * cols, cols, f + i, w, acc, distance);
  for (; i < n; ++i) accumulate_sweep<1>(x + i * cols, cols, f + i, w, acc, distance);
}

}  // namespace pipeward::privacy::avx512
