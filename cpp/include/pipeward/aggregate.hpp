// Federated aggregation over K client updates of P values each (the `aggregate` family).
//
// Every kernel reads the updates through K row pointers, so a (K, P) array and one layer of
// K clients' per-layer arrays (Flower's NDArrays) are served alike, without stacking copies.
// Sums are taken in double whatever the input type; results are rounded once.
#pragma once

#include <cstddef>
#include <cstdint>

#include "pipeward/common.hpp"

namespace pipeward::aggregate {

enum class Status : int {
  ok = 0,
  non_finite = 1,  // a NaN or an infinity in some update: the caller finds and names it
};

// The K clients' updates as L layers: rows[l * k + i] is client i's layer l, of p[l] values,
// and out[l] receives layer l of the result. One call covers every layer in one parallel
// region (a call per layer would wait for every thread once per layer).
template <typename T>
struct Layers {
  const T* const* rows;
  const std::size_t* p;
  std::size_t layers;
  std::size_t k;
};

// Coordinate-wise mean of the values ranked [lo, hi) among the K clients (ranks from 0,
// ascending): the median is lo = (K - 1) / 2, hi = K / 2 + 1; the trimmed mean cutting c
// from each end is [c, K - c) (scipy.stats.trim_mean's c = int(proportion * K)).
template <typename T>
Status rank_mean(const Layers<T>& in, std::size_t lo, std::size_t hi, T* const* out,
                 int threads);

// Coordinate-wise weighted mean sum_i w_i x_i / sum_i w_i (w == nullptr: all 1).
template <typename T>
Status weighted_mean(const Layers<T>& in, const double* w, T* const* out, int threads);

// Squared Euclidean distances between every pair of the K updates, into the K x K row-major
// `out` (symmetric, zero diagonal). Differences are formed before squaring, so close updates
// keep their precision (no |a|^2 + |b|^2 - 2ab cancellation).
template <typename T>
Status pairwise_sq_distances(const T* const* rows, std::size_t k, std::size_t p, double* out,
                             int threads);

// One compare-exchange of a sorting network: slot a gets the smaller value, slot b the larger.
// Sorting networks sort a tile of coordinates lane by lane with min/max, no branches.
struct Comparator {
  unsigned short a, b;
};

// ---- the CUDA kernels of cuda/aggregate.cu (PIPEWARD_CHECK_CUDA_KERNEL in common.hpp) -------

// Weighted mean: row addresses, k, p, weights, 1 / their total, out, bad flag.
template <typename T>
using WeightedMeanKernel = void(const uint64_t*, int64_t, int64_t, const double*, double, T*, int32_t*);
// Mean of the ranks [lo, hi) per coordinate (median, trimmed mean): rows, k, p, lo, hi, out, bad.
template <typename T>
using RankMeanKernel = void(const uint64_t*, int64_t, int64_t, int64_t, int64_t, T*, int32_t*);
// Squared distances between every pair of clients (Krum): rows, k, p, out (k, k), bad.
using PairwiseKernel = void(const uint64_t*, int64_t, int64_t, double*, int32_t*);

}  // namespace pipeward::aggregate

#define PIPEWARD_AGGREGATE_CUDA_KERNELS(X)                                               \
  X(aggregate_weighted_mean_f32, ::pipeward::aggregate::WeightedMeanKernel<float>)       \
  X(aggregate_weighted_mean_f64, ::pipeward::aggregate::WeightedMeanKernel<double>)      \
  X(aggregate_rank_mean_f32, ::pipeward::aggregate::RankMeanKernel<float>)               \
  X(aggregate_rank_mean_f64, ::pipeward::aggregate::RankMeanKernel<double>)              \
  X(aggregate_pairwise_sq_distances_f32, ::pipeward::aggregate::PairwiseKernel)          \
  X(aggregate_pairwise_sq_distances_f64, ::pipeward::aggregate::PairwiseKernel)
