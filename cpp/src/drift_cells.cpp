// Cell counts and cell values for the distributed order statistics (see drift_cells.hpp).
// A value's cell is found by a guess from an equal-width grid over the feature's edges and a
// short search among the few edges the grid leaves possible, so refined cells (many edges in
// a narrow range) cost about what equal-width buckets do.
#include "pipeward/drift_cells.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace pipeward::drift {

namespace {

// Finds the cell (number of edges <= v) of a non-NaN v among one feature's m edges.
class CellFinder {
 public:
  CellFinder(const double* e, int64_t m) : e_(e), m_(m), finite_(m) {
    // Trailing +inf edges (they set +inf values apart) stay out of the grid.
    while (finite_ > 0 && std::isinf(e_[finite_ - 1]) && e_[finite_ - 1] > 0) --finite_;
    if (finite_ < 2) return;
    lo_ = e_[0];
    const double hi = e_[finite_ - 1], span = hi - lo_;
    if (!(span > 0.0) || !std::isfinite(span)) return;  // binary search only
    grid_ = 4 * finite_;  // about one edge in four grid cells: most brackets hold none
    inv_ = static_cast<double>(grid_) / span;
    below_.resize(static_cast<size_t>(grid_) + 1);
    // below_[g]: edges <= the grid point lo + g / inv (the same expression find() inverts).
    int64_t k = 0;
    for (int64_t g = 0; g < grid_; ++g) {
      const double point = lo_ + static_cast<double>(g) / inv_;
      while (k < finite_ && e_[k] <= point) ++k;
      below_[static_cast<size_t>(g)] = static_cast<int32_t>(k);
    }
    below_[static_cast<size_t>(grid_)] = static_cast<int32_t>(finite_);
  }

  int64_t find(double v) const {
    if (grid_ == 0) return upper(0, m_, v);
    if (!(v >= lo_)) return 0;
    if (v >= e_[finite_ - 1]) return upper(finite_ - 1, m_, v);
    int64_t g = static_cast<int64_t>((v - lo_) * inv_);
    g = std::clamp<int64_t>(g, 0, grid_ - 1);
    // v's grid cell brackets its answer; rounding can shift the cell by one, so the
    // bracket is checked exactly and a full search takes over in that rare case.
    const int64_t a = below_[static_cast<size_t>(g)];
    const int64_t b = below_[static_cast<size_t>(g + 1)];
    if ((a > 0 && e_[a - 1] > v) || (b < finite_ && e_[b] <= v)) return upper(0, m_, v);
    int64_t count = a;
    for (int64_t k = a; k < b; ++k) count += e_[k] <= v;
    return count;
  }

 private:
  int64_t upper(int64_t a, int64_t b, double v) const {
    return std::upper_bound(e_ + a, e_ + b, v) - e_;
  }

  const double* e_;
  int64_t m_, finite_;  // all edges; those before any trailing +inf
  double lo_ = 0.0, inv_ = 0.0;
  int64_t grid_ = 0;
  std::vector<int32_t> below_;  // edges < 2^31 a feature
};

std::vector<CellFinder> finders(const double* edges, int64_t m, int64_t features) {
  std::vector<CellFinder> out;
  out.reserve(static_cast<size_t>(features));
  for (int64_t f = 0; f < features; ++f) out.emplace_back(edges + f * m, m);
  return out;
}

}  // namespace

template <typename T>
void cell_counts(const Samples<T>& x, const double* edges, int64_t m, int64_t* counts,
                 double* vmin, double* vmax, int threads) {
  const int64_t F = x.n_features, width = m + 2;
  const std::vector<CellFinder> find = finders(edges, m, F);
  const int64_t block_rows = 4096;
  const int64_t blocks = (x.n + block_rows - 1) / block_rows;
  threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, blocks)));
#pragma omp parallel num_threads(threads)
  {
    // Each thread counts its row blocks apart; the tables are merged once at the end.
    std::vector<int64_t> c(static_cast<size_t>(F * width), 0);
    std::vector<double> lo(static_cast<size_t>(F * (m + 1)), std::numeric_limits<double>::infinity());
    std::vector<double> hi(lo.size(), -std::numeric_limits<double>::infinity());
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t s0 = blk * block_rows, s1 = std::min(x.n, s0 + block_rows);
      // Feature by feature over a block of rows: the block stays in L2 and so does one
      // feature's edges, grid and cell tables (all features' at once would not).
      for (int64_t f = 0; f < F; ++f) {
        const CellFinder& finder = find[static_cast<size_t>(f)];
        int64_t* cf = c.data() + f * width;
        double* lf = lo.data() + f * (m + 1);
        double* hf = hi.data() + f * (m + 1);
        const T* col = x.data + f * x.feature_stride;
        for (int64_t s = s0; s < s1; ++s) {
          const double v = static_cast<double>(col[s * x.sample_stride]);
          if (std::isnan(v)) {
            ++cf[m + 1];
            continue;
          }
          const int64_t cell = finder.find(v);
          ++cf[cell];
          lf[cell] = v < lf[cell] ? v : lf[cell];
          hf[cell] = v > hf[cell] ? v : hf[cell];
        }
      }
    }
#pragma omp critical
    {
      for (size_t i = 0; i < c.size(); ++i) counts[i] += c[i];
      for (size_t i = 0; i < lo.size(); ++i) {
        vmin[i] = std::min(vmin[i], lo[i]);
        vmax[i] = std::max(vmax[i], hi[i]);
      }
    }
  }
}

template <typename T>
void cell_values(const Samples<T>& x, const double* edges, int64_t m, const uint8_t* wanted,
                 std::vector<T>* out) {
  const int64_t F = x.n_features;
  const std::vector<CellFinder> find = finders(edges, m, F);
  for (int64_t s = 0; s < x.n; ++s) {
    const T* row = x.data + s * x.sample_stride;
    for (int64_t f = 0; f < F; ++f) {
      const T v = row[f * x.feature_stride];
      if (std::isnan(v)) continue;
      const int64_t cell = find[static_cast<size_t>(f)].find(static_cast<double>(v));
      if (wanted[f * (m + 1) + cell]) out[f].push_back(v);
    }
  }
}

template void cell_counts<float>(const Samples<float>&, const double*, int64_t, int64_t*,
                                 double*, double*, int);
template void cell_counts<double>(const Samples<double>&, const double*, int64_t, int64_t*,
                                  double*, double*, int);
template void cell_values<float>(const Samples<float>&, const double*, int64_t, const uint8_t*,
                                 std::vector<float>*);
template void cell_values<double>(const Samples<double>&, const double*, int64_t,
                                  const uint8_t*, std::vector<double>*);

}  // namespace pipeward::drift
