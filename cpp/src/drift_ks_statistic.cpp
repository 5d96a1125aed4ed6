// The KS statistic of one feature: sort each sample (radix sort on order-preserving integer
// keys, ~10x std::sort for 1e5 doubles) and walk both in one linear merge.
#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "drift_ks_merge.hpp"
#include "pipeward/drift.hpp"

namespace pipeward::drift {

namespace {

template <typename T>
using KeyOf = std::conditional_t<sizeof(T) == 8, uint64_t, uint32_t>;

// IEEE bits -> unsigned key with the same order (negatives flipped, sign bit set on positives).
// -0.0 maps to +0.0's key: they compare equal, so they must tie in the merge too.
template <typename T>
inline KeyOf<T> to_key(T v) {
  using K = KeyOf<T>;
  constexpr K sign = K(1) << (sizeof(K) * 8 - 1);
  if (v == T(0)) v = T(0);
  K u;
  std::memcpy(&u, &v, sizeof(u));
  return (u & sign) ? K(~u) : K(u | sign);
}

template <typename T>
inline T from_key(KeyOf<T> k) {
  using K = KeyOf<T>;
  constexpr K sign = K(1) << (sizeof(K) * 8 - 1);
  const K u = (k & sign) ? K(k & ~sign) : K(~k);
  T v;
  std::memcpy(&v, &u, sizeof(v));
  return v;
}

constexpr int kDigitBits = 8;
constexpr int kBuckets = 1 << kDigitBits;

}  // namespace

template <typename T>
void sort_values(T* values, int64_t n, void* scratch) {
  using K = KeyOf<T>;
  if (n < 512) {  // histogram set-up would dominate
    std::sort(values, values + n);
    return;
  }
  constexpr int passes = (sizeof(K) * 8 + kDigitBits - 1) / kDigitBits;
  // scratch holds 2n keys: the keys and their ping-pong buffer.
  K* keys = static_cast<K*>(scratch);
  K* tmp = keys + n;
  std::vector<uint32_t> hist(static_cast<size_t>(passes) * kBuckets, 0);
  for (int64_t i = 0; i < n; ++i) {
    const K k = to_key(values[i]);
    keys[i] = k;
    for (int p = 0; p < passes; ++p) ++hist[p * kBuckets + ((k >> (p * kDigitBits)) & (kBuckets - 1))];
  }
  for (int p = 0; p < passes; ++p) {
    uint32_t* h = &hist[static_cast<size_t>(p) * kBuckets];
    const int shift = p * kDigitBits;
    // A digit shared by every key leaves the order unchanged: skip the pass.
    if (h[(keys[0] >> shift) & (kBuckets - 1)] == static_cast<uint32_t>(n)) continue;
    uint32_t sum = 0;
    for (int b = 0; b < kBuckets; ++b) {
      const uint32_t c = h[b];
      h[b] = sum;
      sum += c;
    }
    for (int64_t i = 0; i < n; ++i) {
      const K k = keys[i];
      tmp[h[(k >> shift) & (kBuckets - 1)]++] = k;
    }
    std::swap(keys, tmp);
  }
  for (int64_t i = 0; i < n; ++i) values[i] = from_key<T>(keys[i]);
}

template <typename T>
KsStat ks_merge_general(const T* a, int64_t n1, const T* b, int64_t n2);

namespace {

template <typename T>
bool has_ties(const T* x, int64_t n) {
  bool tie = false;
  for (int64_t k = 1; k < n; ++k) tie |= x[k] == x[k - 1];
  return tie;
}

// The merge when no value repeats within a sample: every pooled element ends its own run
// unless it equals the other sample's next value; the loop notices that and returns false
// (the general merge then redoes the feature).
template <typename T>
bool merge_distinct(const T* a, int64_t n1, const T* b, int64_t n2, KsStat* out) {
  KsMerge<T> m(n1, n2);  // its extremes and result(); the walk below is the tie-free one
  int64_t i = 0, j = 0, key = 0;
  bool cross_tie = false;
  for (int64_t step = 0, total = n1 + n2; step < total; ++step) {
    const bool more_a = i < n1, more_b = j < n2;
    const T va = a[more_a ? i : n1 - 1], vb = b[more_b ? j : n2 - 1];
    const bool take_a = more_a & (!more_b | (va <= vb));
    cross_tie |= more_a & more_b & (va == vb);
    const T v = take_a ? va : vb;
    i += take_a;
    j += !take_a;
    key += take_a ? n2 : -n1;  // i n2 - j n1: the exact gap times n1 n2
    const bool cand = take_a ? ((key >= m.kmax_a) | (key <= m.kmin_a))
                             : ((key >= m.kmax_b) | (key <= m.kmin_b));
    if (cand) {
      const double gap = ecdf_gap(i, n1, j, n2);
      if (take_a) {
        if (gap > m.max_a) { m.max_a = gap; m.lmax_a = v; m.kmax_a = key; }
        if (gap < m.min_a) { m.min_a = gap; m.lmin_a = v; m.kmin_a = key; }
      } else {
        if (gap > m.max_b) { m.max_b = gap; m.lmax_b = v; m.kmax_b = key; }
        if (gap < m.min_b) { m.min_b = gap; m.lmin_b = v; m.kmin_b = key; }
      }
    }
  }
  if (cross_tie) return false;
  *out = m.result();
  return true;
}

}  // namespace

template <typename T>
KsStat ks_merge(const T* a, int64_t n1, const T* b, int64_t n2) {
  const bool exact_keys = static_cast<double>(n1) * static_cast<double>(n2) < 0x1p50;
  KsStat fast;
  if (exact_keys && !has_ties(a, n1) && !has_ties(b, n2) && merge_distinct(a, n1, b, n2, &fast)) {
    return fast;
  }
  return ks_merge_general(a, n1, b, n2);
}

template <typename T>
KsStat ks_merge_general(const T* a, int64_t n1, const T* b, int64_t n2) {
  KsMerge<T> merge(n1, n2);
  merge.run(a, n1, b, n2, 0, 0);
  return merge.result();
}

template void sort_values<float>(float*, int64_t, void*);
template void sort_values<double>(double*, int64_t, void*);
template KsStat ks_merge<float>(const float*, int64_t, const float*, int64_t);
template KsStat ks_merge<double>(const double*, int64_t, const double*, int64_t);

}  // namespace pipeward::drift
