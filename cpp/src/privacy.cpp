// Privacy kernels: the portable variant and the run-time dispatch to the AVX2 / AVX-512
// builds of the same source (privacy_kernels.hpp).
#define PIPEWARD_PRIVACY_NS portable
#include "privacy_kernels.hpp"

#include "pipeward/dispatch.hpp"

namespace pipeward::privacy {

// The variants of each kernel: one build of privacy_kernels.hpp per instruction set, each in
// its own namespace (portable here, avx2 and avx512 in privacy_<isa>.cpp).
#define PIPEWARD_PRIVACY_DECLARE(ns)                                                          \
  namespace ns {                                                                              \
  void sq_norms(const void*, Dtype, std::size_t, std::size_t, double*, int);                  \
  bool clip_sum_noise(const void*, Dtype, std::size_t, std::size_t, const double*, double,    \
                      double, const NoiseSource&, uint64_t, void*, bool, int);                \
  void normals(const NoiseSource&, uint64_t, std::size_t, float*, int);                       \
  }
PIPEWARD_PRIVACY_DECLARE(avx2)
PIPEWARD_PRIVACY_DECLARE(avx512)
#undef PIPEWARD_PRIVACY_DECLARE

namespace {
#define PIPEWARD_PRIVACY_VARIANTS(fn) \
  {portable::fn, PIPEWARD_AVX2(avx2::fn), PIPEWARD_AVX512(avx512::fn)}
const Variants<decltype(&portable::sq_norms)> kSqNorms PIPEWARD_PRIVACY_VARIANTS(sq_norms);
const Variants<decltype(&portable::clip_sum_noise)> kClipSumNoise
    PIPEWARD_PRIVACY_VARIANTS(clip_sum_noise);
const Variants<decltype(&portable::normals)> kNormals PIPEWARD_PRIVACY_VARIANTS(normals);
#undef PIPEWARD_PRIVACY_VARIANTS
}  // namespace

void sq_norms(const void* g, Dtype dtype, std::size_t rows, std::size_t cols, double* out,
              int threads) {
  kSqNorms.select()(g, dtype, rows, cols, out, threads);
}

bool clip_sum_noise(const void* g, Dtype dtype, std::size_t rows, std::size_t cols,
                    const double* scale, double noise_std, double out_scale,
                    const NoiseSource& noise, uint64_t offset, void* out, bool out_f64,
                    int threads) {
  return kClipSumNoise.select()(g, dtype, rows, cols, scale, noise_std, out_scale, noise, offset,
                                out, out_f64, threads);
}

void normals(const NoiseSource& noise, uint64_t offset, std::size_t n, float* out, int threads) {
  kNormals.select()(noise, offset, n, out, threads);
}

}  // namespace pipeward::privacy
