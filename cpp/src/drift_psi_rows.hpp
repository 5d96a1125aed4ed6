// PSI counting for row-major (rows, features) tables with few edges: every feature of a row is
// binned at once by counting, feature-parallel, how many of its edges the value reaches, which
// vectorises across features. Private to the drift_psi*.cpp files: each includes it and builds
// it for its own instruction set, so this header uses nothing with external linkage.
#pragma once

#include <cstdint>

namespace pipeward::drift {

// Per-ISA entry points (drift_psi.cpp, drift_psi_avx2.cpp, drift_psi_avx512.cpp).
#define PIPEWARD_PSI_ROWS_DECL(suffix)                                                          \
  void psi_rows_##suffix(const float* data, int64_t n, int64_t F, int64_t stride,                \
                         const float* edges_t, int64_t k, int64_t* counts, int32_t* bins);       \
  void psi_rows_##suffix(const double* data, int64_t n, int64_t F, int64_t stride,               \
                         const double* edges_t, int64_t k, int64_t* counts, int32_t* bins);
PIPEWARD_PSI_ROWS_DECL(portable)
PIPEWARD_PSI_ROWS_DECL(avx2)
PIPEWARD_PSI_ROWS_DECL(avx512)
#undef PIPEWARD_PSI_ROWS_DECL

namespace {

// counts[f * (k + 2) + bin] += ... for rows [0, n); edges_t is (k, F): edge e of feature f at
// e * F + f, in the data's own type (float edges are the double edges rounded up, which keeps
// v >= edge exact). Bin = number of edges <= value (open tails), NaN -> k + 1; bins is F ints.
template <typename T>
inline void psi_rows_kernel(const T* data, int64_t n, int64_t F, int64_t stride,
                            const T* edges_t, int64_t k, int64_t* counts, int32_t* bins) {
  const int64_t nb = k + 2;
  for (int64_t s = 0; s < n; ++s) {
    const T* row = data + s * stride;
    for (int64_t f = 0; f < F; ++f) bins[f] = 0;
    for (int64_t e = 0; e < k; ++e) {
      const T* et = edges_t + e * F;
      for (int64_t f = 0; f < F; ++f) bins[f] += row[f] >= et[f] ? 1 : 0;
    }
    for (int64_t f = 0; f < F; ++f) {
      const T v = row[f];
      ++counts[f * nb + (v != v ? k + 1 : bins[f])];
    }
  }
}

}  // namespace
}  // namespace pipeward::drift

#define PIPEWARD_PSI_ROWS_DEFINE(suffix)                                                        \
  namespace pipeward::drift {                                                                   \
  void psi_rows_##suffix(const float* d, int64_t n, int64_t F, int64_t s, const float* e,       \
                         int64_t k, int64_t* c, int32_t* b) {                                   \
    psi_rows_kernel(d, n, F, s, e, k, c, b);                                                    \
  }                                                                                             \
  void psi_rows_##suffix(const double* d, int64_t n, int64_t F, int64_t s, const double* e,     \
                         int64_t k, int64_t* c, int32_t* b) {                                   \
    psi_rows_kernel(d, n, F, s, e, k, c, b);                                                    \
  }                                                                                             \
  }
