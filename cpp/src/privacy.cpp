// Privacy kernels: the portable variant and the run-time dispatch to the AVX2 / AVX-512
// builds of the same source (privacy_kernels.hpp).
#define PIPEWARD_PRIVACY_NS portable
#include "privacy_kernels.hpp"

#include "pipeward/cpu_features.hpp"

namespace pipeward::privacy {

#define PIPEWARD_PRIVACY_DECLARE(ns)                                                          \
  namespace ns {                                                                              \
  void sq_norms(const void*, Dtype, std::size_t, std::size_t, double*, int);                  \
  bool clip_sum_noise(const void*, Dtype, std::size_t, std::size_t, const double*, double,    \
                      double, const NoiseSource&, uint64_t, void*, bool, int);                \
  void normals(const NoiseSource&, uint64_t, std::size_t, float*, int);                       \
  }

#if defined(PIPEWARD_X86)
PIPEWARD_PRIVACY_DECLARE(avx2)
PIPEWARD_PRIVACY_DECLARE(avx512)
#define PIPEWARD_PRIVACY_DISPATCH(call)                     \
  if (isa_enabled(Isa::avx512)) return avx512::call;        \
  if (isa_enabled(Isa::avx2)) return avx2::call;            \
  return portable::call
#else
#define PIPEWARD_PRIVACY_DISPATCH(call) return portable::call
#endif

void sq_norms(const void* g, Dtype dtype, std::size_t rows, std::size_t cols, double* out,
              int threads) {
  PIPEWARD_PRIVACY_DISPATCH(sq_norms(g, dtype, rows, cols, out, threads));
}

bool clip_sum_noise(const void* g, Dtype dtype, std::size_t rows, std::size_t cols,
                    const double* scale, double noise_std, double out_scale,
                    const NoiseSource& noise, uint64_t offset, void* out, bool out_f64,
                    int threads) {
  PIPEWARD_PRIVACY_DISPATCH(clip_sum_noise(g, dtype, rows, cols, scale, noise_std, out_scale,
                                           noise, offset, out, out_f64, threads));
}

void normals(const NoiseSource& noise, uint64_t offset, std::size_t n, float* out, int threads) {
  PIPEWARD_PRIVACY_DISPATCH(normals(noise, offset, n, out, threads));
}

}  // namespace pipeward::privacy
