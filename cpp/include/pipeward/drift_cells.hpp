// Value cells for distributed order statistics (pipeward.dask): each feature's real line is
// cut at sorted edges e[0..m) into the cells (-inf, e0), [e0, e1), ..., [e_{m-1}, inf), the
// cell of v being the number of edges <= v; NaNs get cell m + 1. A partition reports, per
// cell, how many values it holds and their smallest and largest, which merge exactly across
// partitions (sum, min, max); then it hands over only the values of the cells asked for.
// The exact KS statistic and exact quantiles of data spread over many machines are found by
// refining the few cells that can hold them (python/pipeward/dask/_cells.py).
#pragma once

#include <cstdint>
#include <vector>

#include "pipeward/drift.hpp"

namespace pipeward::drift {

// Per feature f of x: counts[f * (m + 2) + c] += values in cell c (c = m + 1: NaN), and
// vmin / vmax[f * (m + 1) + c] widened to the cell's values (callers start them at +-inf;
// both null: counts only).
// edges: features x m, each row non-decreasing and NaN-free.
template <typename T>
void cell_counts(const Samples<T>& x, const double* edges, int64_t m, int64_t* counts,
                 double* vmin, double* vmax, int threads);

// The values of the cells with wanted[f * (m + 1) + c] != 0, appended to out[f] in the order
// met (out: one vector per feature). NaNs are never fetched.
template <typename T>
void cell_values(const Samples<T>& x, const double* edges, int64_t m, const uint8_t* wanted,
                 std::vector<T>* out);

// The p-value stage of ks_2samp (drift_ks.cpp) for statistics found elsewhere: the statistic
// chosen from D+ / D-, the method, exact or asymptotic p-values, the status, as ks_2samp.
void ks_finish(const KsStat* stats, int64_t n_features, Alternative alt, Method method,
               const KsOut& out, int threads);

}  // namespace pipeward::drift
