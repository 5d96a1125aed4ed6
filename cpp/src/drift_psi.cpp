// PSI histograms: per feature, count values into k + 1 bins cut at k interior edges (open
// tails), NaNs into one more bin. Features run in parallel; within a feature the bin search is
// a short branch-light binary search over edges that stay in L1.
#include <omp.h>

#include <cmath>
#include <vector>

#include "pipeward/drift.hpp"

namespace pipeward::drift {

template <typename T>
void psi_counts(const Samples<T>& x, const double* edges, int64_t k, int64_t edge_stride,
                int64_t* counts, int threads) {
  const int64_t F = x.n_features;
  const int64_t nb = k + 2;
  if (F >= threads || x.n < 65536) {
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
  // Few features, many rows: split the rows instead and add the partial counts.
  for (int64_t f = 0; f < F; ++f) {
    const T* p = x.data + f * x.feature_stride;
    const double* e = edges + f * edge_stride;
    int64_t* c = counts + f * nb;
#pragma omp parallel num_threads(threads)
    {
      std::vector<int64_t> local(static_cast<size_t>(nb), 0);
#pragma omp for schedule(static)
      for (int64_t s = 0; s < x.n; ++s) {
        const T v = p[s * x.sample_stride];
        ++local[std::isnan(v) ? k + 1 : psi_bin(v, e, k)];
      }
#pragma omp critical
      for (int64_t b = 0; b < nb; ++b) c[b] += local[b];
    }
  }
}

template void psi_counts<float>(const Samples<float>&, const double*, int64_t, int64_t, int64_t*,
                                int);
template void psi_counts<double>(const Samples<double>&, const double*, int64_t, int64_t,
                                 int64_t*, int);

}  // namespace pipeward::drift
