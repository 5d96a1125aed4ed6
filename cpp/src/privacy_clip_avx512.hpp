// Hand-written AVX-512 float32 loops of the clipping kernels (privacy_clip_avx512.cpp), called
// by the AVX-512 build of privacy_kernels.hpp.
#pragma once

#include <cstddef>

namespace pipeward::privacy::avx512 {

// sum_j x[j]^2 in float64 (32 lanes, then the lanes in order); prefetches `distance` bytes ahead.
double sum_squares_f32(const float* x, std::size_t w, int distance);

// acc[j] (= 0 first when fresh) += sum_{i < n} f[i] x[i * cols + j] for j < w, float64.
void accumulate_rows_f32(const float* x, std::size_t cols, const double* f, std::size_t n,
                         std::size_t w, double* acc, bool fresh, int distance);

}  // namespace pipeward::privacy::avx512
