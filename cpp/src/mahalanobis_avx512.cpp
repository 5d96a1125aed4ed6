// AVX-512 variant of the Mahalanobis tiles: 8 rows x 3 vectors of accumulators (24 of the 32
// ZMM registers), three factor vectors and one broadcast per step.
#include <immintrin.h>

#include "mahalanobis_tile.hpp"

namespace pipeward::mahalanobis::detail {
namespace {

struct F64x8 {
  using scalar = double;
  using reg = __m512d;
  static constexpr int lanes = 8;
  static reg zero() { return _mm512_setzero_pd(); }
  static reg load(const double* p) { return _mm512_loadu_pd(p); }
  static reg set1(double x) { return _mm512_set1_pd(x); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_pd(a, b, c); }
  static void store(double* p, reg r) { _mm512_storeu_pd(p, r); }
  static double hsum(reg r) { return _mm512_reduce_add_pd(r); }
};

struct F32x16 {
  using scalar = float;
  using reg = __m512;
  static constexpr int lanes = 16;
  static reg zero() { return _mm512_setzero_ps(); }
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static reg set1(float x) { return _mm512_set1_ps(x); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static void store(float* p, reg r) { _mm512_storeu_ps(p, r); }
  static float hsum(reg r) { return _mm512_reduce_add_ps(r); }
};

constexpr int kMR = 8;
using F64 = tile::Kernels<F64x8, kMR, 3>;
using F32 = tile::Kernels<F32x16, kMR, 2>;

}  // namespace

const Variant& variant_avx512() {
  static const Variant v{kMR, F64::NR, F32::NR, &F64::distances, &F32::distances,
                         &F64::gram_upper};
  return v;
}

}  // namespace pipeward::mahalanobis::detail
