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
  CellFinder(const double* e, int64_t m) : e_(e), m_(m) {
    if (m_ < 2) return;
    lo_ = e_[0];
    const double hi = e_[m_ - 1], span = hi - lo_;
    if (!(span > 0.0) || !std::isfinite(span)) return;  // binary search only
    grid_ = 2 * m_;
    inv_ = static_cast<double>(grid_) / span;
    below_.resize(static_cast<size_t>(grid_) + 1);
    // below_[g]: edges <= the grid point lo + g / inv (the same expression find() inverts).
    int64_t k = 0;
    for (int64_t g = 0; g < grid_; ++g) {
      const double point = lo_ + static_cast<double>(g) / inv_;
      while (k < m_ && e_[k] <= point) ++k;
      below_[static_cast<size_t>(g)] = k;
    }
    below_[static_cast<size_t>(grid_)] = m_;
  }

  int64_t find(double v) const {
    if (grid_ == 0) return upper(0, m_, v);
    if (!(v >= lo_)) return 0;
    if (v >= e_[m_ - 1]) return m_;
    int64_t g = static_cast<int64_t>((v - lo_) * inv_);
    g = std::clamp<int64_t>(g, 0, grid_ - 1);
    // The grid guess is within a cell of the truth; one cell of margin each side, then a
    // check that keeps the answer exact whatever the rounding did.
    const int64_t a = below_[static_cast<size_t>(std::max<int64_t>(g - 1, 0))];
    const int64_t b = below_[static_cast<size_t>(std::min<int64_t>(g + 2, grid_))];
    if ((a > 0 && e_[a - 1] > v) || (b < m_ && e_[b] <= v)) return upper(0, m_, v);
    return upper(a, b, v);
  }

 private:
  int64_t upper(int64_t a, int64_t b, double v) const {
    return std::upper_bound(e_ + a, e_ + b, v) - e_;
  }

  const double* e_;
  int64_t m_;
  double lo_ = 0.0, inv_ = 0.0;
  int64_t grid_ = 0;
  std::vector<int64_t> below_;
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
      const int64_t s1 = std::min(x.n, (blk + 1) * block_rows);
      for (int64_t s = blk * block_rows; s < s1; ++s) {  // rows outer: one pass over a table
        const T* row = x.data + s * x.sample_stride;
        for (int64_t f = 0; f < F; ++f) {
          const double v = static_cast<double>(row[f * x.feature_stride]);
          if (std::isnan(v)) {
            ++c[static_cast<size_t>(f * width + m + 1)];
            continue;
          }
          const int64_t cell = find[static_cast<size_t>(f)].find(v);
          ++c[static_cast<size_t>(f * width + cell)];
          const size_t at = static_cast<size_t>(f * (m + 1) + cell);
          lo[at] = v < lo[at] ? v : lo[at];
          hi[at] = v > hi[at] ? v : hi[at];
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
