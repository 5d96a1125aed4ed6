// AVX-512 variant of the nearest-distance scan; the last partial vector of a row is a
// zero-masked load (masked-off lanes are never touched).
#include <immintrin.h>

#include "nearest_kernels.hpp"
#include "nearest_scan.hpp"

namespace pipeward::nearest::detail {
namespace {

struct F64x8 {
  using scalar = double;
  using reg = __m512d;
  static constexpr std::size_t lanes = 8;
  static reg zero() { return _mm512_setzero_pd(); }
  static reg load(const double* p) { return _mm512_loadu_pd(p); }
  static reg load_tail(const double* p, std::size_t r, std::size_t) {
    return _mm512_maskz_loadu_pd(static_cast<__mmask8>((1u << r) - 1u), p);
  }
  static reg sub(reg a, reg b) { return _mm512_sub_pd(a, b); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_pd(a, b, c); }
  static double hsum(reg r) { return _mm512_reduce_add_pd(r); }
  // Halve each to 256 bits, then the AVX2 transpose-and-add.
  static void hsum4(reg a, reg b, reg c, reg d, double* out) {
    const __m256d ab = _mm256_hadd_pd(half(a), half(b)), cd = _mm256_hadd_pd(half(c), half(d));
    _mm256_storeu_pd(out, _mm256_add_pd(_mm256_permute2f128_pd(ab, cd, 0x20),
                                        _mm256_permute2f128_pd(ab, cd, 0x31)));
  }
  static __m256d half(reg r) {
    return _mm256_add_pd(_mm512_castpd512_pd256(r), _mm512_extractf64x4_pd(r, 1));
  }
};

struct F32x16 {
  using scalar = float;
  using reg = __m512;
  static constexpr std::size_t lanes = 16;
  static reg zero() { return _mm512_setzero_ps(); }
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static reg load_tail(const float* p, std::size_t r, std::size_t) {
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << r) - 1u), p);
  }
  static reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static float hsum(reg r) { return _mm512_reduce_add_ps(r); }
  static void hsum4(reg a, reg b, reg c, reg d, float* out) {
    const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(half(a), half(b)), _mm256_hadd_ps(half(c), half(d)));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
  }
  static __m256 half(reg r) {
    return _mm256_add_ps(_mm512_castps512_ps256(r), _mm512_extractf32x8_ps(r, 1));
  }
};

}  // namespace

const Variant& variant_avx512() {
  static const Variant v{&scan::Scan<F64x8>::run, &scan::Scan<F32x16>::run};
  return v;
}

}  // namespace pipeward::nearest::detail
