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

// Bucket cells: the top-level buckets of the bucketed KS statistic (drift_ks_buckets.cpp) as
// cells, counted by its vector sweep at a fraction of a cell search's cost. Each feature's
// map (equal width in v or in symlog(v), fitted to sample: features x n, n < 2^16, NaNs
// skipped) cuts it into `buckets` (2..65535) buckets; edges (features x (buckets - 1)) are the
// smallest doubles of buckets 1 .. buckets - 1, so a value's bucket is its cell and
// bucket_counts (features x (buckets + 1), NaN last) are cell_counts with those edges.
void bucket_maps(const double* sample, int64_t features, int64_t n, int64_t buckets, double* lo,
                 double* scale, int64_t* eps_bits);
void bucket_edges(const double* lo, const double* scale, const int64_t* eps_bits,
                  int64_t features, int64_t buckets, double* edges, int threads);
template <typename T>
void bucket_counts(const Samples<T>& x, const double* lo, const double* scale,
                   const int64_t* eps_bits, int64_t buckets, int32_t* counts);  // x.n < 2^31

// cell_counts (counts, and extremes unless vmin / vmax are null) for cells that refine bucket
// cells: the bucket sweep finds each value's bucket b, and bucket_cells[(f * (buckets + 1) + b)
// * 2 + {0, 1}] = {first, last} say where its values go: with last < 0 all to cell `first`
// (settled: no extremes kept), else to first + the number of edges e[first .. last) at or
// below the value (the bucket's values lie in cells first .. last). The NaN bucket's entry
// is {m + 1, -1}. Each value is searched among its bucket's few edges only.
template <typename T>
void cell_counts_by_bucket(const Samples<T>& x, const double* edges, int64_t m,
                           const double* lo, const double* scale, const int64_t* eps_bits,
                           int64_t buckets, const int32_t* bucket_cells, int64_t* counts,
                           double* vmin, double* vmax);

// Zoomed bucket cells: the open buckets of bucket cells, each split into 2^bits sub-buckets
// by the fraction of its map position (sub_bucket_of, non-decreasing in v within a bucket).
// zoom_base[f * (buckets + 1) + k]: the first zoomed cell of bucket k, or -1 (not zoomed; the
// NaN bucket always -1; the last bucket's values all fall in its first sub-bucket, their
// positions being clamped); a feature's zoomed buckets take cells 0, 2^bits, 2 * 2^bits, ...
// in bucket order (std::invalid_argument otherwise), all below zoom_cells. One pass counts
// the zoomed cells' values (counts: features x zoom_cells, added to; null: none) and/or
// appends the values of the cells flagged in wanted (features x zoom_cells; null: none) to
// out[f], in the order met.
template <typename T>
void zoom_pass(const Samples<T>& x, const double* lo, const double* scale,
               const int64_t* eps_bits, int64_t buckets, const int32_t* zoom_base, int bits,
               int64_t zoom_cells, int32_t* counts, const uint8_t* wanted, std::vector<T>* out);

// For each q < n: the smallest double in sub-bucket sub[q] of bucket bucket[q] of feature
// feature[q] or above (the lower edge of that zoomed cell; +inf for the last bucket's
// sub-buckets past its first, which no value reaches).
void zoom_edges(const double* lo, const double* scale, const int64_t* eps_bits, int64_t buckets,
                int bits, const int64_t* feature, const int64_t* bucket, const int64_t* sub,
                int64_t n, double* edges);

// The p-value stage of ks_2samp (drift_ks.cpp) for statistics found elsewhere: the statistic
// chosen from D+ / D-, the method, exact or asymptotic p-values, the status, as ks_2samp.
void ks_finish(const KsStat* stats, int64_t n_features, Alternative alt, Method method,
               const KsOut& out, int threads);

}  // namespace pipeward::drift
