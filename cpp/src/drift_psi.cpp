// PSI histograms: per feature, count values into k + 1 bins cut at k interior edges (open
// tails), NaNs into one more bin. Features run in parallel; within a feature the bin search is
// a short branch-light binary search over edges that stay in L1.
#include <omp.h>

#include <cmath>
#include <limits>
#include <vector>

#include "drift_psi_rows.hpp"
#include "pipeward/dispatch.hpp"
#include "pipeward/drift.hpp"

PIPEWARD_PSI_ROWS_DEFINE(portable, 16)

namespace pipeward::drift {
namespace {

template <typename T>
using PsiRowsFn = void (*)(const T*, int64_t, int64_t, int64_t, const T*, int64_t, int64_t*);

template <typename T>
const Variants<PsiRowsFn<T>> kPsiRows{psi_rows_portable, PIPEWARD_AVX2(psi_rows_avx2),
                                      PIPEWARD_AVX512(psi_rows_avx512)};

}  // namespace

template <typename T>
void psi_counts(const Samples<T>& x, const double* edges, int64_t k, int64_t edge_stride,
                int64_t* counts, int threads) {
  const int64_t F = x.n_features;
  const int64_t nb = k + 2;
  const bool row_major = x.feature_stride < x.sample_stride;  // (rows, features) tables
  if (!row_major && F >= threads) {
    // Each feature's values are contiguous: one feature per task.
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t f = 0; f < F; ++f) {
      const T* p = x.data + f * x.feature_stride;
      const double* e = edges + f * edge_stride;
      int64_t* c = counts + f * nb;
      for (int64_t s = 0; s < x.n; ++s) {
        const T v = p[s * x.sample_stride];
        ++c[std::isnan(v) ? k + 1 : psi_bin(v, e, k)];
      }
    }
    return;
  }
  if (row_major && x.feature_stride == 1 && k <= 64 && x.n > 0) {
    // Contiguous rows, few edges: bin every feature of a row at once, vectorised.
    // Edges in the data's type: for float data, the smallest float >= the double edge, so that
    // the float comparison v >= edge says exactly what the double one would.
    std::vector<T> edges_t(static_cast<size_t>(k * F));
    for (int64_t f = 0; f < F; ++f) {
      for (int64_t e = 0; e < k; ++e) {
        const double d = edges[f * edge_stride + e];
        T t = static_cast<T>(d);
        if (static_cast<double>(t) < d) t = std::nextafter(t, std::numeric_limits<T>::infinity());
        edges_t[e * F + f] = t;
      }
    }
    const PsiRowsFn<T> psi_rows = kPsiRows<T>.select();
#pragma omp parallel num_threads(threads)
    {
      std::vector<int64_t> local(static_cast<size_t>(F * nb), 0);
      const int nt = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t lo = x.n * t / nt, hi = x.n * (t + 1) / nt;
      const T* start = x.data + lo * x.sample_stride;
      psi_rows(start, hi - lo, F, x.sample_stride, edges_t.data(), k, local.data());
#pragma omp critical
      for (int64_t i = 0; i < F * nb; ++i) counts[i] += local[i];
    }
    return;
  }
  // Row-major tables (or few features): split the rows, sweep each row across its features
  // into per-thread counts, then add them up (counts are exact integers, so the sum is too).
#pragma omp parallel num_threads(threads)
  {
    std::vector<int64_t> local(static_cast<size_t>(F * nb), 0);
#pragma omp for schedule(static)
    for (int64_t s = 0; s < x.n; ++s) {
      const T* row = x.data + s * x.sample_stride;
      for (int64_t f = 0; f < F; ++f) {
        const T v = row[f * x.feature_stride];
        ++local[f * nb + (std::isnan(v) ? k + 1 : psi_bin(v, edges + f * edge_stride, k))];
      }
    }
#pragma omp critical
    for (int64_t i = 0; i < F * nb; ++i) counts[i] += local[i];
  }
}

template void psi_counts<float>(const Samples<float>&, const double*, int64_t, int64_t, int64_t*,
                                int);
template void psi_counts<double>(const Samples<double>&, const double*, int64_t, int64_t,
                                 int64_t*, int);

}  // namespace pipeward::drift
