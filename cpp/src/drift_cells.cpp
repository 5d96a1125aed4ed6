// Cell counts and cell values for the distributed order statistics (see drift_cells.hpp).
// A value's cell is found by a guess from an equal-width grid over the feature's edges and a
// short search among the few edges the grid leaves possible, so refined cells (many edges in
// a narrow range) cost about what equal-width buckets do. Rows are taken in blocks, feature by
// feature: the block's values are widened to double, their cells found by the best vector
// variant (drift_cells_avx2/avx512.cpp), then counted here.
#include "pipeward/drift_cells.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "drift_cells_find.hpp"
#include "pipeward/dispatch.hpp"

namespace pipeward::drift {

CellFinder::CellFinder(const double* edges, int64_t m_edges) : e(edges), m(m_edges), finite(m_edges) {
  // Trailing +inf edges (they set +inf values apart) stay out of the grid.
  while (finite > 0 && std::isinf(e[finite - 1]) && e[finite - 1] > 0) --finite;
  if (finite < 2) return;
  lo = e[0];
  const double hi = e[finite - 1], span = hi - lo;
  if (!(span > 0.0) || !std::isfinite(span)) return;  // binary search only
  grid = 4 * finite;  // about one edge in four grid cells: most brackets hold none
  inv = static_cast<double>(grid) / span;
  below.resize(static_cast<size_t>(grid) + 1);
  // below[g]: edges <= the grid point lo + g / inv (the same expression find() inverts).
  int64_t k = 0;
  for (int64_t g = 0; g < grid; ++g) {
    const double point = lo + static_cast<double>(g) / inv;
    while (k < finite && e[k] <= point) ++k;
    below[static_cast<size_t>(g)] = static_cast<int32_t>(k);
  }
  below[static_cast<size_t>(grid)] = static_cast<int32_t>(finite);
}

int64_t CellFinder::upper(int64_t a, int64_t b, double v) const {
  return std::upper_bound(e + a, e + b, v) - e;
}

int64_t CellFinder::find(double v) const {
  if (std::isnan(v)) return m + 1;
  if (grid == 0) return upper(0, m, v);
  if (!(v >= lo)) return 0;
  if (v >= e[finite - 1]) return upper(finite - 1, m, v);
  int64_t g = static_cast<int64_t>((v - lo) * inv);
  g = std::clamp<int64_t>(g, 0, grid - 1);
  // v's grid cell brackets its answer; rounding can shift the cell by one, so the
  // bracket is checked exactly and a full search takes over in that rare case.
  const int64_t a = below[static_cast<size_t>(g)];
  const int64_t b = below[static_cast<size_t>(g + 1)];
  if ((a > 0 && e[a - 1] > v) || (b < finite && e[b] <= v)) return upper(0, m, v);
  int64_t count = a;
  for (int64_t k = a; k < b; ++k) count += e[k] <= v;
  return count;
}

void find_cells_portable(const CellFinder& finder, const double* values, int64_t n,
                         int32_t* cells) {
  for (int64_t i = 0; i < n; ++i) cells[i] = static_cast<int32_t>(finder.find(values[i]));
}

// A few edges (a fetch pass asks for a few intervals): the cell is the count of edges <= v,
// taken edge by edge over the whole block, which vectorises; the grid guess would send
// most values (outside the edges' span) to the scalar search one by one.
constexpr int64_t kLinearEdges = 16;
void find_cells_linear(const CellFinder& finder, const double* values, int64_t n,
                       int32_t* cells) {
  std::fill(cells, cells + n, 0);
  for (int64_t k = 0; k < finder.m; ++k) {
    const double edge = finder.e[k];
    for (int64_t i = 0; i < n; ++i) cells[i] += values[i] >= edge ? 1 : 0;
  }
  const int32_t nan_cell = static_cast<int32_t>(finder.m + 1);
  for (int64_t i = 0; i < n; ++i) cells[i] = std::isnan(values[i]) ? nan_cell : cells[i];
}

namespace {

const Variants<FindCellsFn> kFindCells{find_cells_portable, PIPEWARD_AVX2(find_cells_avx2),
                                       PIPEWARD_AVX512(find_cells_avx512)};

constexpr int64_t kBlockRows = 4096;

std::vector<CellFinder> finders(const double* edges, int64_t m, int64_t features) {
  std::vector<CellFinder> out;
  out.reserve(static_cast<size_t>(features));
  for (int64_t f = 0; f < features; ++f) out.emplace_back(edges + f * m, m);
  return out;
}

// One feature's values of rows [s0, s1), widened to double, and their cells.
template <typename T>
class BlockCells {
 public:
  BlockCells() : values_(kBlockRows), cells_(kBlockRows) {}

  int64_t load(const Samples<T>& x, int64_t f, int64_t s0, int64_t s1, const CellFinder& finder,
               FindCellsFn find_cells) {
    const T* col = x.data + f * x.feature_stride;
    const int64_t n = s1 - s0;
    for (int64_t i = 0; i < n; ++i) values_[i] = static_cast<double>(col[(s0 + i) * x.sample_stride]);
    find_cells(finder, values_.data(), n, cells_.data());
    return n;
  }

  double value(int64_t i) const { return values_[static_cast<size_t>(i)]; }
  int32_t cell(int64_t i) const { return cells_[static_cast<size_t>(i)]; }

 private:
  std::vector<double> values_;
  std::vector<int32_t> cells_;
};

}  // namespace

template <typename T, bool kExtremes>
void cell_counts_impl(const Samples<T>& x, const double* edges, int64_t m, int64_t* counts,
                      double* vmin, double* vmax, int threads) {
  const int64_t F = x.n_features, width = m + 2;
  const std::vector<CellFinder> find = finders(edges, m, F);
  const FindCellsFn find_cells = kFindCells.select();
  const int64_t blocks = (x.n + kBlockRows - 1) / kBlockRows;
  threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, blocks)));
#pragma omp parallel num_threads(threads)
  {
    // Each thread counts its row blocks apart; the tables are merged once at the end.
    std::vector<int64_t> c(static_cast<size_t>(F * width), 0);
    const size_t extremes = kExtremes ? static_cast<size_t>(F * (m + 1)) : 0;
    std::vector<double> lo(extremes, std::numeric_limits<double>::infinity());
    std::vector<double> hi(extremes, -std::numeric_limits<double>::infinity());
    BlockCells<T> block;
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t s0 = blk * kBlockRows, s1 = std::min(x.n, s0 + kBlockRows);
      // Feature by feature over a block of rows: the block stays in L2 and so does one
      // feature's edges, grid and cell tables (all features' at once would not).
      for (int64_t f = 0; f < F; ++f) {
        const int64_t n = block.load(x, f, s0, s1, find[static_cast<size_t>(f)], find_cells);
        int64_t* cf = c.data() + f * width;
        if constexpr (!kExtremes) {
          for (int64_t i = 0; i < n; ++i) ++cf[block.cell(i)];
          continue;
        }
        double* lf = lo.data() + f * (m + 1);
        double* hf = hi.data() + f * (m + 1);
        for (int64_t i = 0; i < n; ++i) {
          const int32_t cell = block.cell(i);
          ++cf[cell];
          if (cell > m) continue;  // NaN: counted only
          const double v = block.value(i);
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
void cell_counts(const Samples<T>& x, const double* edges, int64_t m, int64_t* counts,
                 double* vmin, double* vmax, int threads) {
  // Without extremes (a lean pass) the count loop does no random stores but the count's.
  if (vmin != nullptr && vmax != nullptr) {
    cell_counts_impl<T, true>(x, edges, m, counts, vmin, vmax, threads);
  } else {
    cell_counts_impl<T, false>(x, edges, m, counts, nullptr, nullptr, threads);
  }
}

template <typename T>
void cell_values(const Samples<T>& x, const double* edges, int64_t m, const uint8_t* wanted,
                 std::vector<T>* out) {
  const int64_t F = x.n_features;
  const std::vector<CellFinder> find = finders(edges, m, F);
  const FindCellsFn find_cells = m <= kLinearEdges ? find_cells_linear : kFindCells.select();
  // Features with no cell wanted (most, once they are settled) are not read at all.
  std::vector<int64_t> asked;
  for (int64_t f = 0; f < F; ++f) {
    const uint8_t* wf = wanted + f * (m + 1);
    if (std::any_of(wf, wf + m + 1, [](uint8_t w) { return w != 0; })) asked.push_back(f);
  }
  BlockCells<T> block;
  // Block by block, feature by feature: each feature still meets its values in row order.
  for (int64_t s0 = 0; s0 < x.n && !asked.empty(); s0 += kBlockRows) {
    const int64_t s1 = std::min(x.n, s0 + kBlockRows);
    for (const int64_t f : asked) {
      const int64_t n = block.load(x, f, s0, s1, find[static_cast<size_t>(f)], find_cells);
      const uint8_t* wf = wanted + f * (m + 1);
      std::vector<T>& of = out[f];
      for (int64_t i = 0; i < n; ++i) {
        const int32_t cell = block.cell(i);
        // NaNs (cell m + 1) are never fetched; widening and narrowing back is exact.
        if (cell <= m && wf[cell]) of.push_back(static_cast<T>(block.value(i)));
      }
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
