// Nearest-distance search: for each query row x_i, the squared L2 distance to the closest row
// of a reference set Y and the first index attaining it,
//     d2_i = min_j sum_k (x_ik - y_jk)^2,   index_i = first argmin.
// Exact differences are summed (never |x|^2 + |y|^2 - 2 x.y, whose cancellation loses the
// near-duplicate queries that PRADA's extraction detector looks for). Rows are read in place
// with any row stride; columns are contiguous.
#pragma once

#include <cstddef>
#include <cstdint>

#include "pipeward/common.hpp"

namespace pipeward::nearest {

// One pair's squared distance, straight from the formula (the reference the vector variants
// are tested against, and what a GPU kernel would share).
template <typename T>
PIPEWARD_HD T squared_distance(const T* x, const T* y, std::size_t d) {
  T total = 0;
  for (std::size_t k = 0; k < d; ++k) {
    const T diff = x[k] - y[k];
    total += diff * diff;
  }
  return total;
}

// out_d2[i], out_index[i] for the m rows of X (ldx apart) against the n >= 1 rows of Y (ldy
// apart), d columns each. Threads: OpenMP over queries, or over parts of Y for few queries.
template <typename T>
void nearest_sq_distances(const T* X, std::size_t m, std::ptrdiff_t ldx, const T* Y,
                          std::size_t n, std::ptrdiff_t ldy, std::size_t d, T* out_d2,
                          std::int64_t* out_index, int threads);

// The extraction detector's step for one query of a key's history (nearest_history.cpp).
// row = (x - low) * scale computed in double and rounded to T, as NumPy's
// ((x - low) * scale).astype(T); false when a value of it is not finite in T (a NaN or inf in
// x, or one past T's range once scaled), and then row holds nothing to use.
template <typename T>
bool scaled_row(const double* x, const double* low, const double* scale, std::size_t d, T* row);

// row's squared distance to the nearest of Y's first n rows (infinity when n == 0, one
// thread: a single query is too little work to share), then row stored as Y's row `slot`
// (the next free row, or the oldest one of a full ring).
template <typename T>
T nearest_then_store(const T* row, T* Y, std::size_t n, std::ptrdiff_t ldy, std::size_t d,
                     std::size_t slot);

}  // namespace pipeward::nearest
