// Finding a value's cell among one feature's sorted edges (drift_cells.cpp), with vector
// variants in drift_cells_avx2.cpp / drift_cells_avx512.cpp. Private to the drift_cells*.cpp
// files. CellFinder's members are defined out of line in drift_cells.cpp (the portable build),
// so the ISA files never carry their own copy of them.
#pragma once

#include <cstdint>
#include <vector>

namespace pipeward::drift {

// The cell (number of edges <= v) of a value among one feature's m sorted edges e: a guess
// from an equal-width grid over [lo, e[finite - 1]], checked exactly against the edges on
// both sides of it, with a binary search where the grid bracket holds many edges or the
// check fails. Read-only after construction; the vector variants read its fields.
class CellFinder {
 public:
  CellFinder(const double* edges, int64_t m);

  // Any v: NaN -> m + 1.
  int64_t find(double v) const;

  const double* e;
  int64_t m;
  int64_t finite;       // edges before any trailing +inf
  double lo = 0.0;      // e[0]
  double inv = 0.0;     // grid cells per unit
  int64_t grid = 0;     // grid cells; 0: binary search only
  std::vector<int32_t> below;  // below[g]: edges <= lo + g / inv; grid + 1 entries

 private:
  int64_t upper(int64_t a, int64_t b, double v) const;
};

// The cells of n values (NaN -> m + 1), all variants equal to CellFinder::find.
using FindCellsFn = void (*)(const CellFinder& finder, const double* values, int64_t n,
                             int32_t* cells);
void find_cells_portable(const CellFinder& finder, const double* values, int64_t n,
                         int32_t* cells);
void find_cells_avx2(const CellFinder& finder, const double* values, int64_t n, int32_t* cells);
void find_cells_avx512(const CellFinder& finder, const double* values, int64_t n,
                       int32_t* cells);

}  // namespace pipeward::drift
