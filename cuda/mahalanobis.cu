// Mahalanobis scoring on the GPU. With P = W W^T (a factor of the precision):
//     d2(x) = ||(x - mu)^T W||^2
// Large d: a centring kernel writes a block of rows of X - mu (any input strides), cuBLAS
// (through CuPy) multiplies it by W, and a row kernel sums the squares. Small d: one thread
// per row evaluates the CPU's reference formula (pipeward/mahalanobis.hpp) directly.
// The centring kernel also feeds the covariance sufficient statistics M2 = Xc^T Xc.
#include <cstddef>
#include <cstdint>

#include "pipeward/mahalanobis.hpp"

namespace {

// out[i * cols + k] = X[row0 + i, k] - loc[k] for i < rows, in the output type.
template <typename T, typename Out>
__device__ void centre(const T* __restrict__ x, int64_t row0, int64_t rows, int64_t cols,
                       int64_t row_stride, int64_t col_stride, const Out* __restrict__ loc,
                       Out* __restrict__ out) {
  const int64_t total = rows * cols;
  for (int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < total;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = t / cols, k = t - i * cols;
    out[t] = static_cast<Out>(x[(row0 + i) * row_stride + k * col_stride]) - loc[k];
  }
}

// out[i] = sum_j z[i, j]^2 for a C-contiguous (rows, cols) z: one warp per row, float64 sums.
template <typename T>
__device__ void row_sq_sums(const T* __restrict__ z, int64_t rows, int64_t cols,
                            T* __restrict__ out) {
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x >> 5);
  const int lane = threadIdx.x & 31;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x >> 5) + (threadIdx.x >> 5);
       i < rows; i += warps) {
    const T* row = z + i * cols;
    double s = 0.0;
    for (int64_t j = lane; j < cols; j += 32) {
      const double v = static_cast<double>(row[j]);
      s += v * v;
    }
    for (int o = 16; o > 0; o >>= 1) s += __shfl_down_sync(0xffffffffu, s, o);
    if (lane == 0) out[i] = static_cast<T>(s);
  }
}

// Small d: the shared per-row formula, one thread per row (factor d x d row-major).
template <typename T>
__device__ void direct(const T* __restrict__ x, int64_t rows, int64_t cols, int64_t row_stride,
                       int64_t col_stride, const T* __restrict__ loc, const T* __restrict__ factor,
                       int lower, T* __restrict__ out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < rows;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = pipeward::mahalanobis::squared_distance_row<T, T>(
        x + i * row_stride, col_stride, loc, factor, static_cast<std::size_t>(cols), lower != 0);
  }
}

}  // namespace

#define PIPEWARD_MAHALANOBIS_KERNELS(suffix, T)                                               \
  extern "C" __global__ void mahalanobis_centre_##suffix(                                     \
      const T* x, int64_t row0, int64_t rows, int64_t cols, int64_t row_stride,              \
      int64_t col_stride, const T* loc, T* out) {                                             \
    centre<T, T>(x, row0, rows, cols, row_stride, col_stride, loc, out);                      \
  }                                                                                           \
  extern "C" __global__ void mahalanobis_centre_##suffix##_to_f64(                            \
      const T* x, int64_t row0, int64_t rows, int64_t cols, int64_t row_stride,              \
      int64_t col_stride, const double* loc, double* out) {                                   \
    centre<T, double>(x, row0, rows, cols, row_stride, col_stride, loc, out);                 \
  }                                                                                           \
  extern "C" __global__ void mahalanobis_row_sq_sums_##suffix(const T* z, int64_t rows,       \
                                                              int64_t cols, T* out) {         \
    row_sq_sums<T>(z, rows, cols, out);                                                       \
  }                                                                                           \
  extern "C" __global__ void mahalanobis_direct_##suffix(                                     \
      const T* x, int64_t rows, int64_t cols, int64_t row_stride, int64_t col_stride,        \
      const T* loc, const T* factor, int lower, T* out) {                                     \
    direct<T>(x, rows, cols, row_stride, col_stride, loc, factor, lower, out);                \
  }
PIPEWARD_MAHALANOBIS_KERNELS(f32, float)
PIPEWARD_MAHALANOBIS_KERNELS(f64, double)

// Every kernel above takes the parameters pipeward/mahalanobis.hpp declares (the launcher checks
// its arguments against that table).
PIPEWARD_MAHALANOBIS_CUDA_KERNELS(PIPEWARD_CHECK_CUDA_KERNEL)
