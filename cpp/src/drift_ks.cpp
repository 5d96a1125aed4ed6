// Batched ks_2samp: every feature's statistic in parallel, then its p-value. Exact p-values
// depend only on (n1, n2, h, alternative), so features that share them are computed once.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <tuple>
#include <vector>

#include "drift_ks_buckets.hpp"
#include "pipeward/drift.hpp"
#include "pipeward/drift_cells.hpp"

namespace pipeward::drift {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

constexpr int64_t kBlock = 8;  // features gathered together: one pass over a row-major table

// Sorted, NaN-free values of a block of features (samples too small for buckets): the fitted
// rows as they are, or sorted copies gathered in one sweep over the samples (a cache line of a
// (rows, features) table holds 8 features, so gathering columns one by one would read the
// table 8 times).
template <typename T>
struct PreparedBlock {
  std::vector<T> values[kBlock];
  std::vector<unsigned char> scratch;
  const T* data[kBlock] = {};
  int64_t n[kBlock] = {};
  bool nan[kBlock] = {};

  void load(const Samples<T>& x, int64_t f0, int64_t count) {
    if (x.presorted) {
      for (int64_t b = 0; b < count; ++b) {
        data[b] = x.data + (f0 + b) * x.feature_stride;
        int64_t k = x.n;
        while (k > 0 && std::isnan(data[b][k - 1])) --k;  // NaNs sort last
        n[b] = k;
        nan[b] = k < x.n;
      }
      return;
    }
    for (int64_t b = 0; b < count; ++b) values[b].resize(static_cast<size_t>(x.n));
    const T* base = x.data + f0 * x.feature_stride;
    // Rows are a stride apart: fetch well ahead, or the sweep waits on memory at every row.
    constexpr int64_t kAhead = 24;
    for (int64_t s = 0; s < x.n; ++s) {
      const T* row = base + s * x.sample_stride;
      if (s + kAhead < x.n) __builtin_prefetch(row + kAhead * x.sample_stride);
      for (int64_t b = 0; b < count; ++b) values[b][s] = row[b * x.feature_stride];
    }
    for (int64_t b = 0; b < count; ++b) {  // NaNs are rare: drop them in a second pass
      auto end = values[b].end();
      if (std::any_of(values[b].begin(), end, [](T v) { return std::isnan(v); })) {
        end = std::remove_if(values[b].begin(), end, [](T v) { return std::isnan(v); });
      }
      n[b] = end - values[b].begin();
    }
    scratch.resize(static_cast<size_t>(2 * x.n) * sizeof(T) + 16);
    for (int64_t b = 0; b < count; ++b) {
      nan[b] = n[b] < x.n;
      sort_values(values[b].data(), n[b], scratch.data());
      data[b] = values[b].data();
    }
  }
};

}  // namespace

template <typename T>
void ks_2samp(const Samples<T>& x1, const Samples<T>& x2, Alternative alt, Method method,
              bool omit_nan, const KsOut& out, int threads, const ReferenceBuckets* reference) {
  const int64_t F = x1.n_features;
  std::vector<KsStat> stats(static_cast<size_t>(F));

  // Large samples skip the sorts (drift_ks_buckets.cpp).
  const bool bucketed = !(x1.presorted && x2.presorted) && ks_bucketed_applies(x1.n, x2.n);
  // Bucketed blocks are as wide as allowed, in a number of blocks the threads share evenly.
  int64_t block = kBlock;
  if (bucketed) {
    int64_t wide = (F + kBlockFeatures - 1) / kBlockFeatures;
    if (wide > 1) wide = (wide + threads - 1) / threads * threads;
    block = (F + wide - 1) / wide;
  }
  const int64_t blocks = (F + block - 1) / block;
#pragma omp parallel num_threads(threads)
  {
    PreparedBlock<T> a, b;
    // Kept per thread between calls: fresh pages for every call cost more than the work.
    static thread_local BucketScratch<T> scratch;
#pragma omp for schedule(dynamic, 1)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t f0 = blk * block, count = std::min(block, F - f0);
      if (bucketed) {
        ks_bucketed_block(x1, x2, f0, count, omit_nan, reference, &stats[f0], scratch);
        continue;
      }
      a.load(x1, f0, count);
      b.load(x2, f0, count);
      for (int64_t c = 0; c < count; ++c) {
        KsStat s;
        if ((a.nan[c] || b.nan[c]) && !omit_nan) {
          s.status = KsStatus::nan_input;
        } else if (a.n[c] == 0 || b.n[c] == 0) {
          s.status = KsStatus::empty;
        } else {
          s = ks_merge(a.data[c], a.n[c], b.data[c], b.n[c]);
        }
        s.n1 = a.n[c];
        s.n2 = b.n[c];
        stats[f0 + c] = s;
      }
    }
    scratch.trim();
  }

  ks_finish(stats.data(), F, alt, method, out, threads);
}

void ks_finish(const KsStat* stats, int64_t F, Alternative alt, Method method,
               const KsOut& out, int threads) {
  // Choose d, its side and the method per feature, as scipy does.
  std::vector<double> d(F);
  std::vector<int64_t> h(F, -1);  // lattice height when the exact method applies
  for (int64_t f = 0; f < F; ++f) {
    const KsStat& s = stats[f];
    out.n1[f] = s.n1;
    out.n2[f] = s.n2;
    out.status[f] = static_cast<int32_t>(s.status);
    if (s.status != KsStatus::ok) {
      out.statistic[f] = out.pvalue[f] = out.location[f] = out.sign[f] = kNaN;
      continue;
    }
    const bool minus = alt == Alternative::less || (alt == Alternative::two_sided && s.dminus > s.dplus);
    d[f] = minus ? s.dminus : s.dplus;
    out.location[f] = minus ? s.loc_minus : s.loc_plus;
    out.sign[f] = minus ? -1.0 : 1.0;
    bool exact = ks_wants_exact(method, s.n1, s.n2);
    if (method == Method::exact) {
      const int64_t g = std::gcd(s.n1, s.n2);
      exact = !(static_cast<double>(s.n1 / g) >=
                static_cast<double>(std::numeric_limits<int32_t>::max()) / static_cast<double>(s.n2 / g));
      if (!exact) out.status[f] = static_cast<int32_t>(KsStatus::lcm_too_large);
    }
    if (exact) {
      const int64_t g = std::gcd(s.n1, s.n2);
      const int64_t lcm = (s.n1 / g) * s.n2;
      h[f] = static_cast<int64_t>(std::nearbyint(d[f] * static_cast<double>(lcm)));
      d[f] = static_cast<double>(h[f]) * 1.0 / static_cast<double>(lcm);
    }
  }

  // Exact p-values, once per distinct (n1, n2, h).
  std::map<std::tuple<int64_t, int64_t, int64_t>, size_t> index;
  std::vector<std::tuple<int64_t, int64_t, int64_t>> keys;
  std::vector<size_t> key_of(F, 0);
  for (int64_t f = 0; f < F; ++f) {
    if (h[f] < 0) continue;
    const auto key = std::make_tuple(stats[f].n1, stats[f].n2, h[f]);
    auto it = index.find(key);
    if (it == index.end()) {
      it = index.emplace(key, keys.size()).first;
      keys.push_back(key);
    }
    key_of[f] = it->second;
  }
  std::vector<double> exact_p(keys.size());
  std::vector<unsigned char> exact_ok(keys.size());
  const int64_t K = static_cast<int64_t>(keys.size());
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t k = 0; k < K; ++k) {
    const auto [n1, n2, hh] = keys[k];
    exact_ok[k] = ks_exact_pvalue(n1, n2, hh, alt, &exact_p[k]);
  }

#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)  // a few tail sums cost ms
  for (int64_t f = 0; f < F; ++f) {
    const KsStat& s = stats[f];
    if (s.status != KsStatus::ok) continue;
    out.statistic[f] = d[f];
    if (h[f] >= 0 && exact_ok[key_of[f]]) {
      out.pvalue[f] = exact_p[key_of[f]];
      continue;
    }
    if (h[f] >= 0) out.status[f] = static_cast<int32_t>(KsStatus::exact_failed);
    out.pvalue[f] = ks_asymp_pvalue(s.n1, s.n2, d[f], alt);
  }
}

template <typename T>
void gather_rows(const Samples<T>& x, T* out, int threads) {
  constexpr int64_t kTileF = 16, kTileS = 512;
  const int64_t F = x.n_features, n = x.n;
  const int64_t tiles_f = (F + kTileF - 1) / kTileF, tiles_s = (n + kTileS - 1) / kTileS;
#pragma omp parallel for num_threads(threads) schedule(static) collapse(2)
  for (int64_t tf = 0; tf < tiles_f; ++tf) {
    for (int64_t ts = 0; ts < tiles_s; ++ts) {
      const int64_t f1 = std::min(F, (tf + 1) * kTileF), s1 = std::min(n, (ts + 1) * kTileS);
      for (int64_t s = ts * kTileS; s < s1; ++s) {
        const T* src = x.data + s * x.sample_stride;
        for (int64_t f = tf * kTileF; f < f1; ++f) out[f * n + s] = src[f * x.feature_stride];
      }
    }
  }
}

template void gather_rows<float>(const Samples<float>&, float*, int);
template void gather_rows<double>(const Samples<double>&, double*, int);
template void ks_2samp<float>(const Samples<float>&, const Samples<float>&, Alternative, Method,
                              bool, const KsOut&, int, const ReferenceBuckets*);
template void ks_2samp<double>(const Samples<double>&, const Samples<double>&, Alternative, Method,
                               bool, const KsOut&, int, const ReferenceBuckets*);

}  // namespace pipeward::drift
