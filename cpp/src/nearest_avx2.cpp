// AVX2 + FMA variant of the nearest-distance scan; the last partial vector of a row is read
// with a masked load (masked-off lanes are never touched, so no read past the row).
#include <immintrin.h>

#include "nearest_kernels.hpp"
#include "nearest_scan.hpp"

namespace pipeward::nearest::detail {
namespace {

alignas(32) const std::int64_t kMask64[8] = {-1, -1, -1, -1, 0, 0, 0, 0};
alignas(32) const std::int32_t kMask32[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

struct F64x4 {
  using scalar = double;
  using reg = __m256d;
  static constexpr std::size_t lanes = 4;
  static reg zero() { return _mm256_setzero_pd(); }
  static reg load(const double* p) { return _mm256_loadu_pd(p); }
  static reg load_tail(const double* p, std::size_t r, std::size_t) {
    const __m256i m = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMask64 + 4 - r));
    return _mm256_maskload_pd(p, m);
  }
  static reg sub(reg a, reg b) { return _mm256_sub_pd(a, b); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_pd(a, b, c); }
  static double hsum(reg r) {
    const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(r), _mm256_extractf128_pd(r, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
  }
  static void hsum4(reg a, reg b, reg c, reg d, double* out) {
    _mm256_storeu_pd(out, sum4(a, b, c, d));
  }
  // [sum a, sum b, sum c, sum d]: pairwise adds within lanes, then the two halves.
  static __m256d sum4(reg a, reg b, reg c, reg d) {
    const __m256d ab = _mm256_hadd_pd(a, b), cd = _mm256_hadd_pd(c, d);
    return _mm256_add_pd(_mm256_permute2f128_pd(ab, cd, 0x20), _mm256_permute2f128_pd(ab, cd, 0x31));
  }
};

struct F32x8 {
  using scalar = float;
  using reg = __m256;
  static constexpr std::size_t lanes = 8;
  static reg zero() { return _mm256_setzero_ps(); }
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static reg load_tail(const float* p, std::size_t r, std::size_t) {
    const __m256i m = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMask32 + 8 - r));
    return _mm256_maskload_ps(p, m);
  }
  static reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static float hsum(reg r) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(r), _mm256_extractf128_ps(r, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
  }
  static void hsum4(reg a, reg b, reg c, reg d, float* out) { _mm_storeu_ps(out, sum4(a, b, c, d)); }
  static __m128 sum4(reg a, reg b, reg c, reg d) {
    const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  }
};

}  // namespace

const Variant& variant_avx2() {
  static const Variant v{&scan::Scan<F64x4>::run, &scan::Scan<F32x8>::run};
  return v;
}

}  // namespace pipeward::nearest::detail
