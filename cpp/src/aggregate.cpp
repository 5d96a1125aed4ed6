// The aggregate family: the portable variant, the sorting network, and the dispatch.
#define PIPEWARD_AGGREGATE_NS portable
#include "aggregate_kernels.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <tuple>

#include "pipeward/dispatch.hpp"

namespace pipeward::aggregate {
namespace detail {

const Variant& variant_portable() {
  static const Variant v = portable::kernels();
  return v;
}

namespace {

// Batcher's odd-even merge sort of n = 2^m values (Knuth 5.3.4, exercise 12's formulation).
std::vector<Comparator> batcher(std::size_t n) {
  std::vector<Comparator> net;
  for (std::size_t p = 1; p < n; p <<= 1)
    for (std::size_t k = p; k >= 1; k >>= 1)
      for (std::size_t j = k % p; j + k < n; j += 2 * k)
        for (std::size_t i = 0; i < std::min(k, n - j - k); ++i)
          if ((i + j) / (2 * p) == (i + j + k) / (2 * p))
            net.push_back({static_cast<unsigned short>(i + j),
                           static_cast<unsigned short>(i + j + k)});
  return net;
}

// The sorting network of the next power of two, cut down to what ranks [lo, hi) of k values
// need: slots k.. hold +inf, so a comparator whose upper slot is +inf does nothing and one
// whose lower slot is +inf only swaps (done by renaming slots); then, walking backwards, a
// comparator that no needed slot depends on is dropped, and so is one between two needed
// slots that no later comparator touches: the caller sums the needed slots, so their order
// among themselves does not matter. Of 1471 comparators, a median of 100 keeps 897, a 10 %
// trimmed mean of 100 keeps 900 (1086 if it sorted the kept ranks).
SelectionNetwork build(std::size_t k, std::size_t lo, std::size_t hi) {
  std::size_t n = 1;
  while (n < k) n <<= 1;
  std::vector<bool> inf(n);
  std::vector<unsigned short> slot(n);
  for (std::size_t i = 0; i < n; ++i) {
    inf[i] = i >= k;
    slot[i] = static_cast<unsigned short>(i);
  }
  std::vector<Comparator> live;
  for (const Comparator& c : batcher(n)) {
    if (inf[c.b]) continue;
    if (inf[c.a]) {
      std::swap(slot[c.a], slot[c.b]);
      inf[c.a] = false;
      inf[c.b] = true;
      continue;
    }
    live.push_back({slot[c.a], slot[c.b]});
  }
  SelectionNetwork net;
  std::vector<bool> needed(n);
  for (std::size_t r = lo; r < hi; ++r) {
    net.outputs.push_back(slot[r]);
    needed[slot[r]] = true;
  }
  const std::vector<bool> output = needed;
  std::vector<bool> touched(n);  // by a comparator kept after this one
  for (auto c = live.rbegin(); c != live.rend(); ++c) {
    if (!needed[c->a] && !needed[c->b]) continue;
    if (output[c->a] && output[c->b] && !touched[c->a] && !touched[c->b]) continue;
    needed[c->a] = needed[c->b] = touched[c->a] = touched[c->b] = true;
    net.comparators.push_back(*c);
  }
  std::reverse(net.comparators.begin(), net.comparators.end());
  net.slots = n;
  return net;
}

}  // namespace

const SelectionNetwork& selection_network(std::size_t k, std::size_t lo, std::size_t hi) {
  static std::mutex lock;
  static std::map<std::tuple<std::size_t, std::size_t, std::size_t>, SelectionNetwork> cache;
  const std::lock_guard<std::mutex> guard(lock);
  const auto key = std::make_tuple(k, lo, hi);
  auto found = cache.find(key);
  if (found == cache.end()) found = cache.emplace(key, build(k, lo, hi)).first;
  return found->second;
}

}  // namespace detail

namespace {

using VariantFn = const detail::Variant& (*)();
const Variants<VariantFn> kVariants{detail::variant_portable,
                                    PIPEWARD_AVX2(detail::variant_avx2),
                                    PIPEWARD_AVX512(detail::variant_avx512)};

const detail::Variant& pick() { return kVariants.select()(); }

}  // namespace

template <>
Status rank_mean<float>(const Layers<float>& in, std::size_t lo, std::size_t hi,
                        float* const* out, int threads) {
  return pick().rank_mean_f32(in, lo, hi, out, threads);
}
template <>
Status rank_mean<double>(const Layers<double>& in, std::size_t lo, std::size_t hi,
                         double* const* out, int threads) {
  return pick().rank_mean_f64(in, lo, hi, out, threads);
}
template <>
Status weighted_mean<float>(const Layers<float>& in, const double* w, float* const* out,
                            int threads) {
  return pick().weighted_mean_f32(in, w, out, threads);
}
template <>
Status weighted_mean<double>(const Layers<double>& in, const double* w, double* const* out,
                             int threads) {
  return pick().weighted_mean_f64(in, w, out, threads);
}
template <>
Status pairwise_sq_distances<float>(const float* const* r, std::size_t k, std::size_t p,
                                    double* out, int threads) {
  return pick().pairwise_f32(r, k, p, out, threads);
}
template <>
Status pairwise_sq_distances<double>(const double* const* r, std::size_t k, std::size_t p,
                                     double* out, int threads) {
  return pick().pairwise_f64(r, k, p, out, threads);
}

}  // namespace pipeward::aggregate
