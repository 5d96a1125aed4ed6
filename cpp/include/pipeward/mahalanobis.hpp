// Mahalanobis outlier scoring: batched squared distances and mergeable covariance statistics.
//
// Squared distance of a row x to a location mu under a precision matrix P = W W^T:
//     d2(x) = (x - mu)^T P (x - mu) = || (x - mu)^T W ||^2
// W is a factor of the precision (the lower Cholesky factor, so that only k >= j enters
// column j, or any square root when P is singular). The CPU kernel centres a block of rows
// into a small buffer, multiplies it by W panel by panel and sums the squares, so no n x d
// temporary exists beyond one block per thread.
//
// Covariance sufficient statistics are (count, mean, M2) with M2 = sum (x - mean)(x - mean)^T.
// Two partitions merge exactly (Chan, Golub & LeVeque 1979):
//     n = na + nb,  delta = mean_b - mean_a,  mean = mean_a + delta * nb / n,
//     M2 = M2_a + M2_b + delta delta^T * na * nb / n.
#pragma once

#include <cstddef>
#include <cstdint>

#include "pipeward/common.hpp"

namespace pipeward::mahalanobis {

// An n x d matrix with element strides (rows and columns may be any stride, even negative),
// so Fortran-ordered arrays and slices are read in place, never copied.
template <typename T>
struct MatrixView {
  const T* data;
  std::size_t rows;
  std::size_t cols;
  std::ptrdiff_t row_stride;
  std::ptrdiff_t col_stride;
  PIPEWARD_HD const T& at(std::size_t i, std::size_t k) const {
    return data[static_cast<std::ptrdiff_t>(i) * row_stride +
                static_cast<std::ptrdiff_t>(k) * col_stride];
  }
};

// One row's squared distance, straight from the formula (the reference the blocked kernels
// and the GPU share). `factor` is d x d row-major; with `lower`, entries above the diagonal
// are taken as zero.
template <typename T, typename Acc = T>
PIPEWARD_HD Acc squared_distance_row(const T* x, std::ptrdiff_t col_stride, const T* location,
                                     const T* factor, std::size_t d, bool lower) {
  Acc total = 0;
  for (std::size_t j = 0; j < d; ++j) {
    Acc z = 0;
    for (std::size_t k = lower ? j : 0; k < d; ++k) {
      const Acc c = static_cast<Acc>(x[static_cast<std::ptrdiff_t>(k) * col_stride]) -
                    static_cast<Acc>(location[k]);
      z += c * static_cast<Acc>(factor[k * d + j]);
    }
    total += z * z;
  }
  return total;
}

// Chan's merge of the means: returns the weight na*nb/n of the outer-product correction and
// moves mean_a to the merged mean (delta receives mean_b - mean_a).
PIPEWARD_HD double chan_merge_mean(double na, double* mean_a, double nb, const double* mean_b,
                                   double* delta, std::size_t d) {
  const double n = na + nb;
  if (nb == 0) {
    for (std::size_t k = 0; k < d; ++k) delta[k] = 0;
    return 0;
  }
  for (std::size_t k = 0; k < d; ++k) {
    delta[k] = mean_b[k] - mean_a[k];
    mean_a[k] += delta[k] * (nb / n);
  }
  return na * nb / n;
}

// out[i] = squared distance of row i. Threads: OpenMP over blocks of rows.
template <typename T>
void squared_distances(const MatrixView<T>& X, const T* location, const T* factor, bool lower,
                       T* out, int threads);

// Sufficient statistics of the rows `rows[0..n_rows)` of X (all rows when rows == nullptr):
// mean (d) and M2 (d x d, row-major, symmetric) in float64. Returns the count.
template <typename T>
std::size_t comoment(const MatrixView<T>& X, const std::int64_t* rows, std::size_t n_rows,
                     double* mean, double* m2, int threads);

// ---- the CUDA kernels of cuda/mahalanobis.cu (PIPEWARD_CHECK_CUDA_KERNEL in common.hpp) ----

// x - loc into Out: x, row0, rows, cols, row_stride, col_stride, loc, out.
template <typename T, typename Out>
using CentreKernel = void(const T*, int64_t, int64_t, int64_t, int64_t, int64_t, const Out*, Out*);
// Row sums of squares: z, rows, cols, out.
template <typename T>
using RowSqSumsKernel = void(const T*, int64_t, int64_t, T*);
// Distances with a triangular factor: x, rows, cols, row_stride, col_stride, loc, factor,
// lower, out.
template <typename T>
using DirectKernel = void(const T*, int64_t, int64_t, int64_t, int64_t, const T*, const T*, int, T*);

}  // namespace pipeward::mahalanobis

#define PIPEWARD_MAHALANOBIS_CUDA_KERNELS(X)                                            \
  X(mahalanobis_centre_f32, ::pipeward::mahalanobis::CentreKernel<float, float>)        \
  X(mahalanobis_centre_f64, ::pipeward::mahalanobis::CentreKernel<double, double>)      \
  X(mahalanobis_centre_f32_to_f64, ::pipeward::mahalanobis::CentreKernel<float, double>) \
  X(mahalanobis_centre_f64_to_f64, ::pipeward::mahalanobis::CentreKernel<double, double>) \
  X(mahalanobis_row_sq_sums_f32, ::pipeward::mahalanobis::RowSqSumsKernel<float>)      \
  X(mahalanobis_row_sq_sums_f64, ::pipeward::mahalanobis::RowSqSumsKernel<double>)     \
  X(mahalanobis_direct_f32, ::pipeward::mahalanobis::DirectKernel<float>)              \
  X(mahalanobis_direct_f64, ::pipeward::mahalanobis::DirectKernel<double>)
