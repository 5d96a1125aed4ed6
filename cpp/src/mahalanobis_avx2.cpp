// AVX2 + FMA variant of the Mahalanobis tiles: 6 rows x 2 vectors of accumulators, which
// with the two factor vectors and one broadcast fills the 16 YMM registers.
#include <immintrin.h>

#include "mahalanobis_tile.hpp"

namespace pipeward::mahalanobis::detail {
namespace {

struct F64x4 {
  using scalar = double;
  using reg = __m256d;
  static constexpr int lanes = 4;
  static reg zero() { return _mm256_setzero_pd(); }
  static reg load(const double* p) { return _mm256_loadu_pd(p); }
  static reg set1(double x) { return _mm256_set1_pd(x); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_pd(a, b, c); }
  static void store(double* p, reg r) { _mm256_storeu_pd(p, r); }
  static double hsum(reg r) {
    const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(r), _mm256_extractf128_pd(r, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
  }
};

struct F32x8 {
  using scalar = float;
  using reg = __m256;
  static constexpr int lanes = 8;
  static reg zero() { return _mm256_setzero_ps(); }
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static reg set1(float x) { return _mm256_set1_ps(x); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static void store(float* p, reg r) { _mm256_storeu_ps(p, r); }
  static float hsum(reg r) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(r), _mm256_extractf128_ps(r, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
  }
};

constexpr int kMR = 6;
using F64 = tile::Kernels<F64x4, kMR, 2>;
using F32 = tile::Kernels<F32x8, kMR, 2>;

}  // namespace

const Variant& variant_avx2() {
  static const Variant v{kMR, F64::NR, F32::NR, &F64::distances, &F32::distances,
                         &F64::gram_upper};
  return v;
}

}  // namespace pipeward::mahalanobis::detail
