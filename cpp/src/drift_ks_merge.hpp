// The KS merge as a resumable walk: scipy's extremes of F1 - F2 over the pooled values, fed one
// sorted stretch of values at a time. A stretch may be a whole sample or one value bucket of it
// (drift_ks_buckets.cpp) as long as stretches arrive in ascending order, no run of tied values
// is split between two stretches, and (i0, j0) counts the values of each sample below it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "pipeward/drift.hpp"

namespace pipeward::drift {

template <typename T>
struct KsMerge {
  // scipy evaluates F1 - F2 at every element of concat(sorted a, sorted b) with
  // searchsorted(side="right"), i.e. at the end of each run of tied values, and takes the
  // first argmax / argmin: a value from a beats an equal-gap value from b, and the smaller value
  // wins within each sample. So the extremes over a's values and b's values are kept apart.
  static constexpr double inf = std::numeric_limits<double>::infinity();
  int64_t n1, n2;
  // The exact gap is key / (n1 n2) with the integer key = i n2 - j n1: while n1 n2 < 2^50 a key
  // below the best one cannot round to a larger double, so the two divisions NumPy performs (and
  // whose rounding decides ties) are only done for keys that can win.
  bool exact_keys;
  double max_a = -inf, max_b = -inf, min_a = inf, min_b = inf;
  T lmax_a{}, lmax_b{}, lmin_a{}, lmin_b{};
  int64_t kmax_a = INT64_MIN, kmax_b = INT64_MIN, kmin_a = INT64_MAX, kmin_b = INT64_MAX;

  KsMerge(int64_t n1_, int64_t n2_)
      : n1(n1_), n2(n2_),
        exact_keys(static_cast<double>(n1_) * static_cast<double>(n2_) < 0x1p50) {}

  // Walk a[0..na) and b[0..nb), both ascending, with i0 / j0 values of each sample before them.
  void run(const T* a, int64_t na, const T* b, int64_t nb, int64_t i0, int64_t j0) {
    // An empty side is never taken, but the branch-free loads below still read it: point it at
    // the other side's first value.
    if (na == 0) a = b;
    if (nb == 0) b = a;
    const int64_t last_a = na > 0 ? na - 1 : 0, last_b = nb > 0 ? nb - 1 : 0;
    int64_t i = 0, j = 0;
    bool has_a = false, has_b = false;
    for (int64_t step = 0, total = na + nb; step < total; ++step) {
      // One element of the pooled order per step, chosen without a branch (the comparison is a
      // coin flip on continuous data); the gap is looked at when the run of equal values ends.
      const T va = a[i < na ? i : last_a], vb = b[j < nb ? j : last_b];
      const bool take_a = (i < na) & ((j >= nb) | (va <= vb));
      const T v = take_a ? va : vb;
      i += take_a;
      j += !take_a;
      has_a |= take_a;
      has_b |= !take_a;
      const bool tie_a = (i < na) & (a[i < na ? i : last_a] == v);
      const bool tie_b = (j < nb) & (b[j < nb ? j : last_b] == v);
      if (tie_a | tie_b) continue;
      record(v, i0 + i, j0 + j, has_a, has_b);
      has_a = has_b = false;
    }
  }

  // A stretch of na + nb values that are all equal to v: one run of ties, one gap at its end.
  void run_tied(T v, int64_t na, int64_t nb, int64_t i0, int64_t j0) {
    if (na + nb > 0) record(v, i0 + na, j0 + nb, na > 0, nb > 0);
  }

  // The gap after a run of ties ending at v, with gi / gj values of each sample up to it.
  void record(T v, int64_t gi, int64_t gj, bool has_a, bool has_b) {
    const int64_t key = exact_keys ? gi * n2 - gj * n1 : 0;
    const bool cand = !exact_keys || (has_a && (key >= kmax_a || key <= kmin_a)) ||
                      (has_b && (key >= kmax_b || key <= kmin_b));
    if (!cand) return;
    const double gap = ecdf_gap(gi, n1, gj, n2);
    if (has_a) {
      if (gap > max_a) { max_a = gap; lmax_a = v; kmax_a = key; }
      if (gap < min_a) { min_a = gap; lmin_a = v; kmin_a = key; }
    }
    if (has_b) {
      if (gap > max_b) { max_b = gap; lmax_b = v; kmax_b = key; }
      if (gap < min_b) { min_b = gap; lmin_b = v; kmin_b = key; }
    }
  }

  KsStat result() const {
    KsStat s;
    s.n1 = n1;
    s.n2 = n2;
    if (max_a >= max_b) { s.dplus = max_a; s.loc_plus = static_cast<double>(lmax_a); }
    else { s.dplus = max_b; s.loc_plus = static_cast<double>(lmax_b); }
    double mn;
    if (min_a <= min_b) { mn = min_a; s.loc_minus = static_cast<double>(lmin_a); }
    else { mn = min_b; s.loc_minus = static_cast<double>(lmin_b); }
    s.dminus = std::min(std::max(-mn, 0.0), 1.0);
    return s;
  }
};

}  // namespace pipeward::drift
