// The KS statistic of a large feature without sorting its samples. Values are counted into
// buckets by a monotone map of their value; the ECDF gap at each bucket's end is then known
// exactly, and inside a bucket it can rise by at most its count from sample 1 (and fall by at
// most its count from sample 2). Only buckets whose bound reaches the best gap seen so far can
// hold scipy's extremes, so only they are refined: bucketed again, or sorted and merged when
// small. On continuous data a few dozen buckets of a few dozen values survive, so a feature
// costs three linear passes instead of two sorts. Every value that can tie the extremes is
// still merged in ascending order, so statistic and location are scipy's to the bit.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "drift_ks_buckets.hpp"
#include "pipeward/drift_cells.hpp"
#include "drift_ks_merge.hpp"
#include "drift_ks_sweep.hpp"
#include "pipeward/dispatch.hpp"

namespace pipeward::drift {

namespace {

// The sweep's instruction-set variants (drift_ks_sweep.hpp).
template <typename T>
using SweepFn = void (*)(const T*, int64_t, int64_t, int64_t, int64_t, const SweepMaps&,
                         uint16_t*, uint32_t*);
template <typename T>
using SortedEndsFn = void (*)(const T*, int64_t, double, double, double, int64_t, int64_t*);
using KeptFn = int64_t (*)(const uint16_t*, int64_t, int64_t, const uint32_t*, int64_t,
                           int64_t*);

template <typename T>
const Variants<SweepFn<T>> kSweep{ks_sweep_portable, PIPEWARD_AVX2(ks_sweep_avx2),
                                  PIPEWARD_AVX512(ks_sweep_avx512)};
template <typename T>
const Variants<SortedEndsFn<T>> kSortedEnds{ks_sorted_ends_portable,
                                            PIPEWARD_AVX512(ks_sorted_ends_avx512)};
template <typename T>
using ZoomedFn = int64_t (*)(const T*, int64_t, int64_t, int64_t, int64_t, uint32_t,
                             const SweepMaps&, const uint32_t*, int64_t, int32_t*, double*);
template <typename T>
const Variants<ZoomedFn<T>> kZoomed{ks_zoomed_portable, PIPEWARD_AVX2(ks_zoomed_avx2),
                                    PIPEWARD_AVX512(ks_zoomed_avx512)};
const Variants<KeptFn> kKept{ks_kept_portable, PIPEWARD_AVX2(ks_kept_avx2),
                             PIPEWARD_AVX512(ks_kept_avx512)};

constexpr int64_t kLeafValues = 384;  // below this a stretch is sorted and merged outright
constexpr int kMaxDepth = 4;          // past this (pathological clustering) sort as well
constexpr int64_t kMinBuckets = 64, kMaxBuckets = 65535;  // ids are 16-bit, NaN bucket included
// Kept values are listed this many at a time: their positions cost 24 bytes each.
constexpr int64_t kExtractChunk = int64_t{1} << 16;

// About 16 values a bucket: small enough that few values survive, few enough to stay in cache;
// at most 2^15 buckets below 2^24 values, 65535 above. A bucket's count bounds how far the gap
// can move inside it while the gaps at the bucket ends spread by about sqrt(values): with too
// few buckets for the values, most buckets can hold the extreme and are refined (at 2^26
// values, 8192 buckets kept 90% of them, 65535 keep a few percent); more buckets than this
// cost more in cache misses than they save.
int64_t bucket_count(int64_t values) {
  const int64_t most = values < (int64_t{1} << 24) ? int64_t{1} << 15 : kMaxBuckets;
  int64_t buckets = kMinBuckets;
  while (buckets < values / 16 && buckets < most) buckets = std::min(2 * buckets, most);
  return buckets;
}

// v -> bucket in [0, buckets) by bucket_of (drift_ks_sweep.hpp): equal-width over [lo, hi] of
// v, or of symlog(v) when eps_bits >= 0.
struct BucketMap {
  double lo = 0.0, scale = 1.0, last = 0.0;
  int64_t eps_bits = -1;

  // The map of a fitted reference (ReferenceBuckets), as it was chosen.
  static BucketMap fitted(double lo, double scale, int64_t buckets, int64_t eps) {
    BucketMap map(0.0, 0.0, buckets, eps);
    map.lo = lo;
    map.scale = scale;
    return map;
  }
  BucketMap(double lo_, double hi, int64_t buckets, int64_t eps = -1)
      : lo(lo_), last(double(buckets - 1)), eps_bits(eps) {
    double s = static_cast<double>(buckets) / (hi - lo);
    if (std::isinf(hi - lo)) s = static_cast<double>(buckets) * 0.5 / (hi * 0.5 - lo * 0.5);
    scale = hi > lo && std::isfinite(s) && s > 0 ? s : 1.0;
  }
  int64_t operator()(double v) const { return bucket_of(v, lo, scale, last, eps_bits); }
  // out[i] = bucket of x[i] (NaN-free).
  template <typename T>
  void assign(const T* x, int64_t n, uint32_t* out) const {
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<uint32_t>((*this)(static_cast<double>(x[i])));
  }
};

// Widens [*lo, *hi] to x's values, infinities clamped to +-DBL_MAX (no NaN arrives here).
// Eight running extremes per side break the dependency chain and let the compiler vectorise.
template <typename T>
void value_range(const T* x, int64_t n, double* lo, double* hi) {
  constexpr int kLanes = 8;
  double l[kLanes], h[kLanes];
  for (int k = 0; k < kLanes; ++k) {
    l[k] = *lo;
    h[k] = *hi;
  }
  const auto widen = [&l, &h](int k, T x_value) {
    double v = static_cast<double>(x_value);
    v = v > -DBL_MAX ? v : -DBL_MAX;
    v = v < DBL_MAX ? v : DBL_MAX;
    l[k] = v < l[k] ? v : l[k];
    h[k] = v > h[k] ? v : h[k];
  };
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int k = 0; k < kLanes; ++k) widen(k, x[i + k]);
  }
  for (int k = 0; i < n; ++i, ++k) widen(k, x[i]);
  for (int k = 0; k < kLanes; ++k) {
    *lo = std::min(*lo, l[k]);
    *hi = std::max(*hi, h[k]);
  }
}

// Copies each value whose bucket was kept to its bucket's next slot (next[k] < 0: not kept).
template <typename T>
void gather_kept(const T* x, const uint32_t* bucket, int64_t n, int32_t* next, T* out) {
  for (int64_t i = 0; i < n; ++i) {
    int32_t& p = next[bucket[i]];
    if (p >= 0) out[p++] = x[i];
  }
}

// A kept bucket: where its values sit (in the level's buffers, or in a sorted sample) and how
// many values of each sample lie below it.
struct Stretch {
  int64_t bucket, start_a, count_a, start_b, count_b, i0, j0;
};

template <typename T>
struct Refiner {
  KsMerge<T> merge;
  bool a_sorted;               // sample 1 arrives sorted (a fitted reference): never re-sorted
  int64_t lb_plus, lb_minus;   // extreme gap keys attained so far: bounds on the result
  BucketScratch<T>& scratch;

  Refiner(int64_t n1, int64_t n2, bool sorted, BucketScratch<T>& s)
      : merge(n1, n2), a_sorted(sorted), lb_plus(INT64_MIN), lb_minus(INT64_MAX), scratch(s) {
    scratch.level(kMaxDepth);  // every level exists up front: references to them stay valid
  }

  // From the bucket counts of a stretch with i0 / j0 values below it: tighten the bounds with
  // the gap after each non-empty bucket (attained: a run of ties never spans two buckets), then
  // list the buckets whose gap can reach a bound inside them (>=: an equal gap further left
  // would be scipy's location), with offsets for their values in start_a / start_b (-1: not
  // kept). A sorted sample 1's offsets are positions in it.
  std::vector<Stretch> keep(const uint32_t* ca, const uint32_t* cb, int64_t buckets, int64_t i0,
                            int64_t j0, int32_t* start_a, int32_t* start_b, int64_t* size_a,
                            int64_t* size_b) {
    const int64_t n1 = merge.n1, n2 = merge.n2;
    int64_t key = i0 * n2 - j0 * n1;
    for (int64_t k = 0; k < buckets; ++k) {
      if (ca[k] == 0 && cb[k] == 0) continue;
      key += static_cast<int64_t>(ca[k]) * n2 - static_cast<int64_t>(cb[k]) * n1;
      lb_plus = std::max(lb_plus, key);
      lb_minus = std::min(lb_minus, key);
    }
    std::vector<Stretch> kept;
    int64_t below_a = 0, below_b = 0;
    *size_a = *size_b = 0;
    key = i0 * n2 - j0 * n1;
    for (int64_t k = 0; k < buckets; ++k) {
      const int64_t ck = ca[k], dk = cb[k];
      start_a[k] = start_b[k] = -1;
      if (ck == 0 && dk == 0) continue;
      if (key + ck * n2 >= lb_plus || key - dk * n1 <= lb_minus) {
        start_a[k] = static_cast<int32_t>(a_sorted ? below_a : *size_a);
        start_b[k] = static_cast<int32_t>(*size_b);
        kept.push_back({k, start_a[k], ck, start_b[k], dk, i0 + below_a, j0 + below_b});
        *size_a += ck;
        *size_b += dk;
      }
      below_a += ck;
      below_b += dk;
      key += ck * n2 - dk * n1;
    }
    return kept;
  }

  // Whether a kept stretch can still hold an extreme: the stretches before it (merged in
  // ascending order) may have raised the best gap above what the bucket ends showed. A bound
  // that only equals the best gap keeps the stretch: an equal gap from sample 1 outranks one
  // that sample 2 attained further left.
  bool can_hold_extreme(const Stretch& k) const {
    const int64_t n1 = merge.n1, n2 = merge.n2, key = k.i0 * n2 - k.j0 * n1;
    const int64_t best_plus = std::max({lb_plus, merge.kmax_a, merge.kmax_b});
    const int64_t best_minus = std::min({lb_minus, merge.kmin_a, merge.kmin_b});
    return key + k.count_a * n2 >= best_plus || key - k.count_b * n1 <= best_minus;
  }

  // Values a[0..na) and b[0..nb) (one stretch of the pooled order, unsorted unless a_sorted),
  // with i0 and j0 values of each sample below them; depth >= 1 (the top level is the block's).
  void refine(const T* a, int64_t na, const T* b, int64_t nb, int64_t i0, int64_t j0, int depth) {
    double lo = DBL_MAX, hi = -DBL_MAX;  // infinities count as +-DBL_MAX: they land in the ends
    value_range(a, na, &lo, &hi);
    value_range(b, nb, &lo, &hi);
    if (lo == hi && std::fabs(lo) < DBL_MAX) {  // one value (heavy ties): one run, no sort
      merge.run_tied(na > 0 ? a[0] : b[0], na, nb, i0, j0);
      return;
    }
    if (na + nb <= kLeafValues || depth >= kMaxDepth || !(lo < hi)) {
      leaf(a, na, b, nb, i0, j0);
      return;
    }
    const int64_t buckets = bucket_count(na + nb);
    const BucketMap map(lo, hi, buckets);
    auto& level = scratch.level(depth);
    level.bucket_a.resize(static_cast<size_t>(na));
    level.bucket_b.resize(static_cast<size_t>(nb));
    map.assign(a, na, level.bucket_a.data());
    map.assign(b, nb, level.bucket_b.data());
    level.count_a.assign(static_cast<size_t>(buckets), 0);
    level.count_b.assign(static_cast<size_t>(buckets), 0);
    for (int64_t i = 0; i < na; ++i) ++level.count_a[level.bucket_a[i]];
    for (int64_t j = 0; j < nb; ++j) ++level.count_b[level.bucket_b[j]];
    level.start_a.resize(static_cast<size_t>(buckets));
    level.start_b.resize(static_cast<size_t>(buckets));
    int64_t size_a, size_b;
    const std::vector<Stretch> kept =
        keep(level.count_a.data(), level.count_b.data(), buckets, i0, j0, level.start_a.data(),
             level.start_b.data(), &size_a, &size_b);
    // Bucketing that keeps most values (clustered data) costs more than it saves: sort instead.
    if (size_a + size_b > (na + nb) / 2) {
      leaf(a, na, b, nb, i0, j0);
      return;
    }
    // The kept values, grouped by bucket in the order met, into buffers this level owns while
    // its children run; a sorted sample needs no copy, its buckets are runs of it.
    std::vector<T> own_a(std::move(level.values_a)), own_b(std::move(level.values_b));
    own_b.resize(static_cast<size_t>(size_b));
    if (!a_sorted) {
      own_a.resize(static_cast<size_t>(size_a));
      level.next = level.start_a;
      gather_kept(a, level.bucket_a.data(), na, level.next.data(), own_a.data());
    }
    level.next = level.start_b;
    gather_kept(b, level.bucket_b.data(), nb, level.next.data(), own_b.data());
    const T* from_a = a_sorted ? a : own_a.data();
    for (const Stretch& k : kept) {
      if (!can_hold_extreme(k)) continue;
      refine(from_a + k.start_a, k.count_a, own_b.data() + k.start_b, k.count_b, k.i0, k.j0,
             depth + 1);
    }
    // Hand the buffers back for reuse by the next stretch.
    scratch.level(depth).values_a = std::move(own_a);
    scratch.level(depth).values_b = std::move(own_b);
  }

  void leaf(const T* a, int64_t na, const T* b, int64_t nb, int64_t i0, int64_t j0) {
    if (na + nb == 0) return;
    // Sort copies: a sorted sample's stretch is the caller's memory.
    std::vector<T>& sa = scratch.leaf_a;
    std::vector<T>& sb = scratch.leaf_b;
    sa.assign(a, a + na);
    sb.assign(b, b + nb);
    if (!a_sorted) sort_stretch(sa);
    sort_stretch(sb);
    merge.run(sa.data(), na, sb.data(), nb, i0, j0);
  }

  void sort_stretch(std::vector<T>& v) {
    if (v.size() < 512) {
      std::sort(v.begin(), v.end());
      return;
    }
    scratch.radix.resize(2 * v.size() * sizeof(T) + 16);
    sort_values(v.data(), static_cast<int64_t>(v.size()), scratch.radix.data());
  }
};

// About 256 values of feature c of an unsorted x (all but NaNs).
template <typename T>
void sample_values(const Samples<T>& x, int64_t f0, int64_t c, std::vector<double>* out) {
  const T* row = x.data + (f0 + c) * x.feature_stride;
  const int64_t step = std::max<int64_t>(1, x.n / 256);
  for (int64_t s = 0; s < x.n; s += step) {
    const T v = row[s * x.sample_stride];
    if (!std::isnan(v)) out->push_back(static_cast<double>(v));
  }
}

// The fullest bucket's count of the values under a map: what bucketing will leave to refine.
int64_t fullest_bucket(const BucketMap& map, const std::vector<double>& values,
                       std::vector<uint16_t>* counts) {
  counts->assign(static_cast<size_t>(map.last) + 1, 0);  // the sample has < 2^16 values
  int64_t best = 0;
  for (double v : values) best = std::max<int64_t>(best, ++(*counts)[map(v)]);
  return best;
}

// A feature's top-level map, chosen on a sample of both samples: equal width in v over their
// range, unless equal width in symlog(v) spreads the sample at least twice as well (values
// spanning many magnitudes). symlog's floor eps is the 1% quantile of the non-zero |v|, so all
// but about 1% of the values sit above it. Values outside a sampled range land in the end
// buckets, which refinement sorts out; the choice only ever costs speed.
BucketMap choose_map(std::vector<double>& values, int64_t buckets, std::vector<uint16_t>* counts) {
  if (values.empty()) return BucketMap(0.0, 0.0, buckets);
  double lo = DBL_MAX, hi = -DBL_MAX;
  std::vector<double> magnitudes;
  for (double& v : values) {
    v = std::clamp(v, -DBL_MAX, DBL_MAX);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    if (v != 0.0) magnitudes.push_back(std::fabs(v));
  }
  const BucketMap linear(lo, hi, buckets);
  if (magnitudes.size() < 16) return linear;
  const size_t q = magnitudes.size() / 100;
  std::nth_element(magnitudes.begin(), magnitudes.begin() + q, magnitudes.end());
  int64_t eps_bits;
  std::memcpy(&eps_bits, &magnitudes[q], sizeof(eps_bits));
  const BucketMap log(symlog(lo, eps_bits), symlog(hi, eps_bits), buckets, eps_bits);
  return 2 * fullest_bucket(log, values, counts) < fullest_bucket(linear, values, counts) ? log
                                                                                  : linear;
}

// A sorted sample's map, chosen on it alone (so that it can be computed once for a fitted
// reference and reused for every window), and its bucket run ends.
template <typename T>
BucketMap sorted_map(const T* row, int64_t k, int64_t buckets, BucketScratch<T>& scratch) {
  std::vector<double>& values = scratch.sampled;
  values.clear();
  if (k > 0) values.push_back(static_cast<double>(row[k - 1]));
  const int64_t step = std::max<int64_t>(1, k / 256);
  for (int64_t s = 0; s < k; s += step) values.push_back(static_cast<double>(row[s]));
  return choose_map(values, buckets, &scratch.sampled_counts);
}

// end[b] = 1 + the last index of ascending row[0..k) in bucket b, 0 for empty buckets.
template <typename T>
void sorted_run_ends(const T* row, int64_t k, const BucketMap& map, int64_t* end) {
  std::fill(end, end + static_cast<int64_t>(map.last) + 1, 0);
  kSortedEnds<T>.select()(row, k, map.lo, map.scale, map.last, map.eps_bits, end);
}

// Values of a sorted row that are not NaN (NaNs sort last).
template <typename T>
int64_t not_nan_prefix(const T* row, int64_t n) {
  while (n > 0 && std::isnan(row[n - 1])) --n;
  return n;
}

}  // namespace

int64_t ks_bucket_count(int64_t n1, int64_t n2) { return bucket_count(n1 + n2); }

template <typename T>
void ks_reference_buckets(const Samples<T>& x1, int64_t buckets, double* lo, double* scale,
                          int64_t* eps_bits, int64_t* ends, int threads) {
#pragma omp parallel num_threads(threads)
  {
    BucketScratch<T> scratch;
#pragma omp for schedule(dynamic, 4)
    for (int64_t f = 0; f < x1.n_features; ++f) {
      const T* row = x1.data + f * x1.feature_stride;
      const int64_t k = not_nan_prefix(row, x1.n);
      const BucketMap map = sorted_map(row, k, buckets, scratch);
      lo[f] = map.lo;
      scale[f] = map.scale;
      eps_bits[f] = map.eps_bits;
      sorted_run_ends(row, k, map, ends + f * buckets);
    }
  }
}

bool ks_bucketed_applies(int64_t n1, int64_t n2) {
  return n1 >= kBucketedMinValues && n2 >= kBucketedMinValues && n1 <= kBucketedMaxValues &&
         n2 <= kBucketedMaxValues && static_cast<double>(n1) * static_cast<double>(n2) < 0x1p50;
}

template <typename T>
void ks_bucketed_block(const Samples<T>& x1, const Samples<T>& x2, int64_t f0, int64_t count,
                       bool omit_nan, const ReferenceBuckets* reference, KsStat* out,
                       BucketScratch<T>& scratch) {
  const int64_t buckets = bucket_count(x1.n + x2.n);
  const int64_t width = buckets + 1;  // the last bucket holds the NaNs
  std::vector<BucketMap> maps;
  double map_lo[kBlockFeatures], map_scale[kBlockFeatures];
  int64_t map_eps[kBlockFeatures];
  for (int64_t c = 0; c < count; ++c) {
    // A sorted sample 1 (a fitted reference) picks the map alone; else both samples do.
    if (reference != nullptr) {
      const int64_t f = f0 + c;
      maps.push_back(BucketMap::fitted(reference->lo[f], reference->scale[f], buckets,
                                       reference->eps_bits[f]));
    } else if (x1.presorted) {
      const T* row = x1.data + (f0 + c) * x1.feature_stride;
      maps.push_back(sorted_map(row, not_nan_prefix(row, x1.n), buckets, scratch));
    } else {
      std::vector<double>& values = scratch.sampled;
      values.clear();
      sample_values(x1, f0, c, &values);
      sample_values(x2, f0, c, &values);
      maps.push_back(choose_map(values, buckets, &scratch.sampled_counts));
    }
    map_lo[c] = maps[c].lo;
    map_scale[c] = maps[c].scale;
    map_eps[c] = maps[c].eps_bits;
  }
  const SweepMaps sweep_maps{map_lo, map_scale, map_eps, static_cast<double>(buckets - 1), width};

  // Count every value into its bucket, remembering the bucket of each unsorted one (row by row:
  // rows of a (rows, features) table hold the block's features side by side, so one sweep
  // reads each cache line once).
  auto count_sample = [&](const Samples<T>& x, std::vector<uint32_t>& counts,
                          std::vector<uint16_t>& ids) {
    counts.assign(static_cast<size_t>(count * width), 0);
    if (x.presorted) {
      for (int64_t c = 0; c < count; ++c) {
        const T* row = x.data + (f0 + c) * x.feature_stride;
        uint32_t* cnt = counts.data() + c * width;
        const int64_t k = not_nan_prefix(row, x.n);
        cnt[buckets] = static_cast<uint32_t>(x.n - k);
        // Sorted: each bucket is one run, so its end says its count.
        const int64_t* end;
        if (reference != nullptr) {
          end = reference->ends + (f0 + c) * buckets;
        } else {
          int64_t* fresh = scratch.run_end(buckets);
          sorted_run_ends(row, k, maps[c], fresh);
          end = fresh;
        }
        int64_t prev = 0;
        for (int64_t b = 0; b < buckets; ++b) {
          if (end[b] > prev) {
            cnt[b] = static_cast<uint32_t>(end[b] - prev);
            prev = end[b];
          }
        }
      }
      return;
    }
    ids.resize(static_cast<size_t>(count * x.n));
    const T* base = x.data + f0 * x.feature_stride;
    kSweep<T>.select()(base, x.n, x.sample_stride, x.feature_stride, count, sweep_maps,
                       ids.data(), counts.data());
  };
  count_sample(x1, scratch.block_count_a, scratch.block_ids_a);
  count_sample(x2, scratch.block_count_b, scratch.block_ids_b);

  // Per feature: sizes, NaN policy, and the buckets that can hold the extremes.
  std::vector<Refiner<T>> refiners;
  std::vector<std::vector<Stretch>> kept(static_cast<size_t>(count));
  // keep() fills each tested feature's offsets; only kept buckets' entries are read.
  scratch.start_a.resize(static_cast<size_t>(count * width));
  scratch.start_b.resize(static_cast<size_t>(count * width));
  scratch.block_values_a.resize(static_cast<size_t>(count));
  scratch.block_values_b.resize(static_cast<size_t>(count));
  for (int64_t c = 0; c < count; ++c) {
    const uint32_t* ca = scratch.block_count_a.data() + c * width;
    const uint32_t* cb = scratch.block_count_b.data() + c * width;
    KsStat& s = out[c];
    s = KsStat();
    s.n1 = x1.n - ca[buckets];
    s.n2 = x2.n - cb[buckets];
    if ((ca[buckets] > 0 || cb[buckets] > 0) && !omit_nan) {
      s.status = KsStatus::nan_input;
    } else if (s.n1 == 0 || s.n2 == 0) {
      s.status = KsStatus::empty;
    }
    refiners.emplace_back(std::max<int64_t>(s.n1, 1), std::max<int64_t>(s.n2, 1), x1.presorted,
                          scratch);
    if (s.status != KsStatus::ok) continue;
    int64_t size_a, size_b;
    kept[c] = refiners[c].keep(ca, cb, buckets, 0, 0, &scratch.start_a[c * width],
                               &scratch.start_b[c * width], &size_a, &size_b);
    if (!x1.presorted) scratch.block_values_a[c].resize(static_cast<size_t>(size_a));
    scratch.block_values_b[c].resize(static_cast<size_t>(size_b));
  }
  // Which buckets are kept, one bit each (the same buckets for both samples): the whole
  // block's bitmap sits in L1.
  const int64_t words = (width + 31) / 32;
  std::vector<uint32_t>& kept_bits = scratch.kept_bits;
  kept_bits.assign(static_cast<size_t>(count * words), 0);
  for (int64_t c = 0; c < count; ++c) {
    for (const Stretch& k : kept[c]) {
      kept_bits[c * words + k.bucket / 32] |= uint32_t{1} << (k.bucket % 32);
    }
  }
  // Copy out the kept buckets' values (the NaN bucket is never kept; a sorted sample's kept
  // buckets are runs of it and need no copy). Their rows have left the cache by now and a kept
  // value is a coin flip away, so a branch-free pass first lists the kept values, then a second
  // fetches them with independent, prefetched loads, a chunk of rows at a time. next: the kept
  // buckets' offsets, advanced as their values are placed.
  auto extract = [&](const Samples<T>& x, const std::vector<uint16_t>& ids,
                     std::vector<int32_t>& next, std::vector<std::vector<T>>& values) {
    const int64_t chunk_rows = std::max<int64_t>(1, kExtractChunk / count);
    std::vector<int64_t>& kept_at = scratch.kept_at;  // flat (row, feature) positions
    kept_at.resize(static_cast<size_t>(chunk_rows * count) + 1);
    std::vector<PendingValue>& pending = scratch.pending;
    pending.resize(static_cast<size_t>(chunk_rows * count));
    const T* base = x.data + f0 * x.feature_stride;
    for (int64_t r0 = 0; r0 < x.n; r0 += chunk_rows) {
      const int64_t rows = std::min(chunk_rows, x.n - r0);
      const uint16_t* chunk_ids = ids.data() + r0 * count;
      const int64_t m = kKept.select()(chunk_ids, rows * count, count, kept_bits.data(), words,
                                       kept_at.data());
      int64_t i = r0, row_start = 0;  // positions ascend: walk the rows rather than divide
      for (int64_t q = 0; q < m; ++q) {
        const int64_t e = kept_at[q];
        while (e >= row_start + count) {
          ++i;
          row_start += count;
        }
        const int64_t c = e - row_start;
        pending[q] = {i * x.sample_stride + c * x.feature_stride, static_cast<int32_t>(c),
                      static_cast<int32_t>(chunk_ids[e])};
      }
      constexpr int64_t kAhead = 16;
      for (int64_t q = 0; q < m; ++q) {
        if (q + kAhead < m) __builtin_prefetch(base + pending[q + kAhead].offset);
        const PendingValue& v = pending[q];
        values[v.feature][next[v.feature * width + v.bucket]++] = base[v.offset];
      }
    }
  };
  if (!x1.presorted) extract(x1, scratch.block_ids_a, scratch.start_a, scratch.block_values_a);
  extract(x2, scratch.block_ids_b, scratch.start_b, scratch.block_values_b);

  // Refine each feature's kept buckets in ascending order.
  for (int64_t c = 0; c < count; ++c) {
    KsStat& s = out[c];
    if (s.status != KsStatus::ok) continue;
    const T* from_a = x1.presorted ? x1.data + (f0 + c) * x1.feature_stride
                                   : scratch.block_values_a[c].data();
    const T* from_b = scratch.block_values_b[c].data();
    for (const Stretch& k : kept[c]) {
      if (!refiners[c].can_hold_extreme(k)) continue;
      refiners[c].refine(from_a + k.start_a, k.count_a, from_b + k.start_b, k.count_b, k.i0,
                         k.j0, 1);
    }
    const int64_t n1 = s.n1, n2 = s.n2;
    s = refiners[c].merge.result();
    s.n1 = n1;
    s.n2 = n2;
  }
}

template <typename T>
typename BucketScratch<T>::Level& BucketScratch<T>::level(int depth) {
  if (levels.size() <= static_cast<size_t>(depth)) levels.resize(static_cast<size_t>(depth) + 1);
  return levels[static_cast<size_t>(depth)];
}

template <typename T>
int64_t* BucketScratch<T>::run_end(int64_t buckets) {
  run_ends.resize(static_cast<size_t>(buckets));
  return run_ends.data();
}

template <typename T>
void BucketScratch<T>::trim() {
  // A thread keeps its buffers between calls unless they grew large.
  size_t bytes = (block_ids_a.capacity() + block_ids_b.capacity()) * sizeof(uint16_t);
  for (const auto& v : block_values_a) bytes += v.capacity() * sizeof(T);
  for (const auto& v : block_values_b) bytes += v.capacity() * sizeof(T);
  for (const Level& l : levels) bytes += (l.values_a.capacity() + l.values_b.capacity()) * sizeof(T);
  if (bytes > (size_t{64} << 20)) *this = BucketScratch<T>();
}

template struct BucketScratch<float>;
template struct BucketScratch<double>;
template void ks_bucketed_block<float>(const Samples<float>&, const Samples<float>&, int64_t,
                                       int64_t, bool, const ReferenceBuckets*, KsStat*,
                                       BucketScratch<float>&);
template void ks_bucketed_block<double>(const Samples<double>&, const Samples<double>&, int64_t,
                                        int64_t, bool, const ReferenceBuckets*, KsStat*,
                                        BucketScratch<double>&);
template void ks_reference_buckets<float>(const Samples<float>&, int64_t, double*, double*,
                                          int64_t*, int64_t*, int);
template void ks_reference_buckets<double>(const Samples<double>&, int64_t, double*, double*,
                                           int64_t*, int64_t*, int);

}  // namespace pipeward::drift

// ---- the top-level buckets as cells, for pipeward.dask (drift_cells.hpp) ------------------

namespace pipeward::drift {

namespace {

// Doubles in order as integers: -0.0 and +0.0 both 0, the negatives below.
int64_t ordered_key(double v) {
  int64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  return bits >= 0 ? bits : -(bits & INT64_MAX);
}

double from_ordered_key(int64_t key) {
  const int64_t bits = key >= 0 ? key : (-key) | INT64_MIN;
  double v;
  std::memcpy(&v, &bits, sizeof(v));
  return v;
}

// The smallest double at which a predicate non-decreasing in v holds (it must hold at +inf
// and not at -inf), by bisection over the doubles in order.
template <typename Reached>
double smallest_reaching(const Reached& reached) {
  int64_t lo = ordered_key(-HUGE_VAL), hi = ordered_key(HUGE_VAL);
  // (hi - lo can pass INT64_MAX: the distance is taken unsigned)
  while (static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo) > 1) {
    const int64_t mid =
        lo + static_cast<int64_t>((static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo)) / 2);
    if (reached(from_ordered_key(mid))) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return from_ordered_key(hi);
}

// The smallest double v whose bucket under `map` is at least k (0 < k < buckets): bucket_of is
// non-decreasing in v, so a value's bucket is the number of these edges at or below it. A
// linear map's edge is a few steps from lo + k / scale; otherwise (or if those steps do not
// find it) bisection over the doubles in order.
double bucket_edge(const BucketMap& map, int64_t k) {
  if (map.eps_bits < 0) {
    double v = map.lo + static_cast<double>(k) / map.scale;
    if (std::isfinite(v)) {
      if (map(v) >= k) {
        for (int step = 0; step < 8; ++step) {
          const double below = std::nextafter(v, -HUGE_VAL);
          if (map(below) < k) return v;
          v = below;
        }
      } else {
        for (int step = 0; step < 8; ++step) {
          v = std::nextafter(v, HUGE_VAL);
          if (map(v) >= k) return v;
        }
      }
    }
  }
  return smallest_reaching([&](double v) { return map(v) >= k; });  // bucket(-inf) = 0 < k
}

}  // namespace

void bucket_maps(const double* sample, int64_t features, int64_t n, int64_t buckets, double* lo,
                 double* scale, int64_t* eps_bits) {
  std::vector<double> values;
  std::vector<uint16_t> counts;
  for (int64_t f = 0; f < features; ++f) {
    values.clear();
    for (int64_t i = 0; i < n; ++i) {
      const double v = sample[f * n + i];
      if (!std::isnan(v)) values.push_back(v);
    }
    const BucketMap map = choose_map(values, buckets, &counts);
    lo[f] = map.lo;
    scale[f] = map.scale;
    eps_bits[f] = map.eps_bits;
  }
}

void bucket_edges(const double* lo, const double* scale, const int64_t* eps_bits,
                  int64_t features, int64_t buckets, double* edges, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t f = 0; f < features; ++f) {
    const BucketMap map = BucketMap::fitted(lo[f], scale[f], buckets, eps_bits[f]);
    for (int64_t k = 1; k < buckets; ++k) edges[f * (buckets - 1) + k - 1] = bucket_edge(map, k);
  }
}

template <typename T>
void bucket_counts(const Samples<T>& x, const double* lo, const double* scale,
                   const int64_t* eps_bits, int64_t buckets, int32_t* counts) {
  const int64_t width = buckets + 1;  // the NaN bucket last
  constexpr int64_t kRows = 4096;     // rows a sweep: their ids are not kept
  std::vector<uint16_t> ids;
  std::vector<uint32_t> block_counts;
  for (int64_t f0 = 0; f0 < x.n_features; f0 += kBlockFeatures) {
    const int64_t count = std::min(kBlockFeatures, x.n_features - f0);
    const SweepMaps maps{lo + f0, scale + f0, eps_bits + f0, static_cast<double>(buckets - 1),
                         width};
    ids.resize(static_cast<size_t>(kRows * count));
    block_counts.assign(static_cast<size_t>(count * width), 0);
    const T* base = x.data + f0 * x.feature_stride;
    for (int64_t s0 = 0; s0 < x.n; s0 += kRows) {
      kSweep<T>.select()(base + s0 * x.sample_stride, std::min(kRows, x.n - s0), x.sample_stride,
                         x.feature_stride, count, maps, ids.data(), block_counts.data());
    }
    for (int64_t i = 0; i < count * width; ++i) {
      counts[f0 * width + i] = static_cast<int32_t>(block_counts[i]);  // n < 2^31: fits
    }
  }
}

template <typename T>
void cell_counts_by_bucket(const Samples<T>& x, const double* edges, int64_t m,
                           const double* lo, const double* scale, const int64_t* eps_bits,
                           int64_t buckets, const int32_t* bucket_cells, int64_t* counts,
                           double* vmin, double* vmax) {
  const int64_t width = buckets + 1, cells = m + 2;
  std::vector<uint16_t> ids;
  std::vector<uint32_t> unused_counts;  // the sweep counts buckets too; not wanted here
  for (int64_t f0 = 0; f0 < x.n_features; f0 += kBlockFeatures) {
    const int64_t count = std::min(kBlockFeatures, x.n_features - f0);
    const SweepMaps maps{lo + f0, scale + f0, eps_bits + f0, static_cast<double>(buckets - 1),
                         width};
    // Every value's bucket first, then feature by feature, so that one feature's table,
    // edges and counts stay in cache while all its values pass.
    ids.resize(static_cast<size_t>(x.n * count));
    unused_counts.assign(static_cast<size_t>(count * width), 0);
    const T* base = x.data + f0 * x.feature_stride;
    kSweep<T>.select()(base, x.n, x.sample_stride, x.feature_stride, count, maps, ids.data(),
                       unused_counts.data());
    for (int64_t c = 0; c < count; ++c) {
      const int32_t* span = bucket_cells + (f0 + c) * width * 2;
      const double* e = edges + (f0 + c) * m;
      int64_t* cf = counts + (f0 + c) * cells;
      double* lf = vmin == nullptr ? nullptr : vmin + (f0 + c) * (m + 1);
      double* hf = vmax == nullptr ? nullptr : vmax + (f0 + c) * (m + 1);
      const T* col = base + c * x.feature_stride;
      const uint16_t* id = ids.data() + c;
      for (int64_t i = 0; i < x.n; ++i) {
        const int32_t* cell_span = span + 2 * id[i * count];
        const int64_t first = cell_span[0], last = cell_span[1];
        if (last < 0) {  // the bucket lies in one cell that needs no extremes
          ++cf[first];
          continue;
        }
        // The cell among the few edges inside the bucket.
        const double v = static_cast<double>(col[i * x.sample_stride]);
        int64_t cell;
        if (last - first <= 32) {
          cell = first;
          for (int64_t k = first; k < last; ++k) cell += e[k] <= v;
        } else {
          cell = std::upper_bound(e + first, e + last, v) - e;
        }
        ++cf[cell];
        if (lf == nullptr) continue;
        lf[cell] = v < lf[cell] ? v : lf[cell];
        hf[cell] = v > hf[cell] ? v : hf[cell];
      }
    }
  }
}

template <typename T>
void zoom_pass(const Samples<T>& x, const double* lo, const double* scale,
               const int64_t* eps_bits, int64_t buckets, const int32_t* zoom_base, int bits,
               int64_t zoom_cells, int32_t* counts, const uint8_t* wanted, std::vector<T>* out) {
  const int64_t width = buckets + 1, words = (buckets + 31) / 32;
  const double last = static_cast<double>(buckets - 1);
  // Each feature's zoomed buckets as bits (8 KiB, where the base table is 256 KiB): the test
  // every value takes; a zoomed value's cell is its bucket's base plus its sub-bucket.
  std::vector<uint32_t> zoomed(static_cast<size_t>(x.n_features * words), 0);
  std::vector<bool> any(static_cast<size_t>(x.n_features), false);
  for (int64_t f = 0; f < x.n_features; ++f) {
    const int32_t* zb = zoom_base + f * width;
    int64_t rank = 0;
    for (int64_t k = 0; k < buckets; ++k) {
      if (zb[k] < 0) continue;
      if (zb[k] != (rank << bits)) {
        throw std::invalid_argument(
            "zoom_base: zoomed buckets must take cells 0, 2^bits, 2 * 2^bits, ... in order");
      }
      zoomed[static_cast<size_t>(f * words + k / 32)] |= uint32_t{1} << (k % 32);
      ++rank;
    }
    any[static_cast<size_t>(f)] = rank > 0;
  }
  // A chunk of rows at a time: the sweep lists its zoomed values (few, but a coin flip away:
  // listed without a branch), then they are counted or kept.
  constexpr int64_t kChunkRows = 1024;
  std::vector<int32_t> hit;
  std::vector<double> position;
  for (int64_t f0 = 0; f0 < x.n_features; f0 += kBlockFeatures) {
    const int64_t count = std::min(kBlockFeatures, x.n_features - f0);
    uint32_t active = 0;
    for (int64_t c = 0; c < count; ++c) {
      active |= static_cast<uint32_t>(any[static_cast<size_t>(f0 + c)]) << c;
    }
    if (active == 0) continue;
    const SweepMaps maps{lo + f0, scale + f0, eps_bits + f0, last, width};
    hit.resize(static_cast<size_t>(kChunkRows * count + 8));
    position.resize(hit.size());
    for (int64_t s0 = 0; s0 < x.n; s0 += kChunkRows) {
      const T* base = x.data + s0 * x.sample_stride + f0 * x.feature_stride;
      const int64_t m = kZoomed<T>.select()(
          base, std::min(kChunkRows, x.n - s0), x.sample_stride, x.feature_stride, count, active,
          maps, zoomed.data() + f0 * words, words, hit.data(), position.data());
      for (int64_t j = 0; j < m; ++j) {
        const int64_t c = hit[static_cast<size_t>(j)] & 31, s = hit[static_cast<size_t>(j)] >> 5;
        const double t = position[static_cast<size_t>(j)];
        const int64_t k = static_cast<int32_t>(t), f = f0 + c;
        const int64_t cell = zoom_base[f * width + k] + sub_bucket_at(t, k, bits);
        if (counts != nullptr) ++counts[f * zoom_cells + cell];
        if (wanted != nullptr && wanted[f * zoom_cells + cell]) {
          out[f].push_back(base[s * x.sample_stride + c * x.feature_stride]);
        }
      }
    }
  }
}

void zoom_edges(const double* lo, const double* scale, const int64_t* eps_bits, int64_t buckets,
                int bits, const int64_t* feature, const int64_t* bucket, const int64_t* sub,
                int64_t n, double* edges) {
  const double last = static_cast<double>(buckets - 1);
  for (int64_t q = 0; q < n; ++q) {
    const int64_t f = feature[q], k = bucket[q], s = sub[q];
    // (bucket, sub-bucket) of v, in order: non-decreasing in v
    auto reached = [&](double v) {
      const int64_t kv = bucket_of(v, lo[f], scale[f], last, eps_bits[f]);
      if (kv != k) return kv > k;
      return sub_bucket_of(v, lo[f], scale[f], last, eps_bits[f], k, bits) >= s;
    };
    edges[q] = reached(-HUGE_VAL) ? -HUGE_VAL : smallest_reaching(reached);
  }
}

template void zoom_pass<float>(const Samples<float>&, const double*, const double*,
                               const int64_t*, int64_t, const int32_t*, int, int64_t, int32_t*,
                               const uint8_t*, std::vector<float>*);
template void zoom_pass<double>(const Samples<double>&, const double*, const double*,
                                const int64_t*, int64_t, const int32_t*, int, int64_t, int32_t*,
                                const uint8_t*, std::vector<double>*);
template void cell_counts_by_bucket<float>(const Samples<float>&, const double*, int64_t,
                                           const double*, const double*, const int64_t*,
                                           int64_t, const int32_t*, int64_t*, double*, double*);
template void cell_counts_by_bucket<double>(const Samples<double>&, const double*, int64_t,
                                            const double*, const double*, const int64_t*,
                                            int64_t, const int32_t*, int64_t*, double*, double*);
template void bucket_counts<float>(const Samples<float>&, const double*, const double*,
                                   const int64_t*, int64_t, int32_t*);
template void bucket_counts<double>(const Samples<double>&, const double*, const double*,
                                    const int64_t*, int64_t, int32_t*);

}  // namespace pipeward::drift
