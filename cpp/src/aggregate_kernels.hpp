// The aggregate kernels, written once and compiled once per instruction set: aggregate.cpp
// (portable), aggregate_avx2.cpp and aggregate_avx512.cpp include this file with a different
// PIPEWARD_AGGREGATE_NS and different compiler flags. Everything ISA-specific lives in that
// namespace's anonymous namespace, so no instantiation is shared between the files: shared
// inline code is merged by the linker, which then runs one file's build for every variant
// (until 2026-12 all three ran the portable build, and GCC had lowered its 64-byte vectors to
// scalar compares and branches). Standard-library templates that the compiler might vectorize
// (std::fill, std::vector<double>) are kept out of the kernels for the same reason.
#pragma once

#ifndef PIPEWARD_AGGREGATE_NS
#error "define PIPEWARD_AGGREGATE_NS before including aggregate_kernels.hpp"
#endif

#include <omp.h>

#include <cstddef>
#include <cstring>
#include <memory>
#include <vector>

#include "pipeward/aggregate.hpp"

namespace pipeward::aggregate::detail {

// A sorting network cut down to the ranks one call needs (aggregate.cpp): the comparators
// on client ids 0..k-1, and the ids that end up holding the needed ranks (in no order).
struct SelectionNetwork {
  std::vector<Comparator> comparators;
  std::vector<unsigned short> outputs;
  std::size_t slots = 0;
};
const SelectionNetwork& selection_network(std::size_t k, std::size_t lo, std::size_t hi);

// One instruction-set variant: the kernels compiled with that file's flags.
struct Variant {
  Status (*rank_mean_f32)(const Layers<float>&, std::size_t, std::size_t, float* const*, int);
  Status (*rank_mean_f64)(const Layers<double>&, std::size_t, std::size_t, double* const*,
                          int);
  Status (*weighted_mean_f32)(const Layers<float>&, const double*, float* const*, int);
  Status (*weighted_mean_f64)(const Layers<double>&, const double*, double* const*, int);
  Status (*pairwise_f32)(const float* const*, std::size_t, std::size_t, double*, int);
  Status (*pairwise_f64)(const double* const*, std::size_t, std::size_t, double*, int);
};

// One per instruction-set file; the x86 ones exist only on x86-64 (dispatch.hpp).
const Variant& variant_portable();
const Variant& variant_avx2();
const Variant& variant_avx512();

}  // namespace pipeward::aggregate::detail

namespace pipeward::aggregate::PIPEWARD_AGGREGATE_NS {
namespace {

using detail::selection_network;
using detail::SelectionNetwork;
using detail::Variant;

// Coordinates per tile: 256 bytes of each client's floats (four cache lines, four AVX-512
// registers), so every comparator has four independent min/max pairs in flight and each row
// is read in 256-byte runs. Measured (P = 1M, K = 100, one thread, AVX-512): 16 lanes 135 ms,
// 32 lanes 104 ms, 64 lanes 83 ms. K tiles stay in L1 up to K ~ 150 and in L2 beyond.
constexpr std::size_t kLanes = 64;

inline std::size_t lesser(std::size_t a, std::size_t b) { return a < b ? a : b; }

// The layers' work items (tiles or blocks of `width` coordinates) numbered as one sequence:
// first[l] is layer l's first item, first[layers] the total.
template <typename T>
std::unique_ptr<std::size_t[]> first_items(const Layers<T>& in, std::size_t width) {
  std::unique_ptr<std::size_t[]> first(new std::size_t[in.layers + 1]);
  first[0] = 0;
  for (std::size_t l = 0; l < in.layers; ++l)
    first[l + 1] = first[l] + (in.p[l] + width - 1) / width;
  return first;
}

// Work item t of first_items(in, width): its layer's rows and output, its first coordinate
// j0 and its width n (the last item of a layer may be narrower).
template <typename T>
struct Item {
  const T* const* rows;
  T* out;
  std::size_t j0, n;
};

// The layer that item t belongs to (first[] ascending; a binary search).
inline std::size_t layer_of(const std::size_t* first, std::size_t layers, std::size_t t) {
  std::size_t lo = 0, hi = layers;  // first[lo] <= t < first[hi]
  while (hi - lo > 1) {
    const std::size_t mid = (lo + hi) / 2;
    if (first[mid] <= t) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

template <typename T>
Item<T> item(const Layers<T>& in, const std::size_t* first, std::size_t width, T* const* outs,
             std::size_t t) {
  const std::size_t layer = layer_of(first, in.layers, t);
  const std::size_t j0 = (t - first[layer]) * width;
  return {in.rows + layer * in.k, outs[layer], j0, lesser(width, in.p[layer] - j0)};
}

template <typename T>
inline bool finite_lanes(const T* v, std::size_t n) {
  bool ok = true;
  for (std::size_t l = 0; l < n; ++l) ok &= (v[l] - v[l]) == T(0);  // false for NaN and inf
  return ok;
}

// Bytes of the widest vector register the file is compiled for. The tile is held as vectors
// of exactly that width: GCC lowers a vector type wider than the target's registers (or a
// lane loop with a select it will not if-convert) to one scalar compare and branch per lane.
#if defined(__AVX512F__)
constexpr std::size_t kVectorBytes = 64;
#elif defined(__AVX__)
constexpr std::size_t kVectorBytes = 32;
#else
constexpr std::size_t kVectorBytes = 16;  // SSE2, NEON; scalar code elsewhere
#endif

// kLanes coordinates of one client, as register-wide GCC vectors.
template <typename T>
struct alignas(64) Tile {
  typedef T Vec __attribute__((vector_size(kVectorBytes)));
  static constexpr std::size_t kPerVec = kVectorBytes / sizeof(T);
  static constexpr std::size_t kVecs = kLanes / kPerVec;
  Vec v[kVecs];
};

// One compare-exchange: lane by lane, a gets min(a, b) and b gets max(a, b), written as
// x < y ? x : y so that ties and signed zeros move exactly as the tested scalar rule says.
template <typename T>
inline void compare_exchange(Tile<T>& a, Tile<T>& b) {
  for (std::size_t u = 0; u < Tile<T>::kVecs; ++u) {
    const auto x = a.v[u], y = b.v[u];
    a.v[u] = x < y ? x : y;
    b.v[u] = x < y ? y : x;
  }
}

// Bytes ahead of the current tile to prefetch in every row: the K rows are K streams, more
// than the hardware prefetcher follows.
constexpr std::size_t kPrefetchBytes = 1024;  // 2048 and 4096 measured slower

template <typename T>
Status rank_mean_impl(const Layers<T>& in, std::size_t lo, std::size_t hi, T* const* outs,
                      int threads) {
  const std::size_t k = in.k;
  const SelectionNetwork& net = selection_network(k, lo, hi);
  const std::unique_ptr<std::size_t[]> first = first_items(in, kLanes);
  const std::size_t tiles = first[in.layers];
  const double inv = 1.0 / static_cast<double>(hi - lo);
  constexpr std::size_t ahead = kPrefetchBytes / sizeof(T);
  using Vec = typename Tile<T>::Vec;
  constexpr std::size_t kVecs = Tile<T>::kVecs;
  bool finite = true;
#pragma omp parallel num_threads(threads) reduction(&& : finite)
  {
    const std::unique_ptr<Tile<T>[]> tiles_of_clients(new Tile<T>[k]);  // L1: K x 64 bytes
    Tile<T>* buf = tiles_of_clients.get();  // the network names client ids < k only
    T lanes[kLanes];
    // Sums of v - v: they stay zero while every value is finite (NaN from a NaN or an inf).
    // Two chains per tile, so the check is not one long chain of dependent adds.
    Vec bad[kVecs] = {};
#pragma omp for schedule(static)
    for (std::size_t t = 0; t < tiles; ++t) {
      const auto [rows, out, j0, w] = item(in, first.get(), kLanes, outs, t);
      if (w == kLanes) {
        for (std::size_t i = 0; i < k; ++i) {
          const T* src = rows[i] + j0;
          for (std::size_t l = 0; l < kLanes; l += 64 / sizeof(T))
            __builtin_prefetch(src + ahead + l);
          std::memcpy(&buf[i], src, sizeof(Tile<T>));
        }
      } else {  // the last, partial tile: zeros past the end are sorted but never written
        for (std::size_t i = 0; i < k; ++i) {
          for (std::size_t l = 0; l < kLanes; ++l) lanes[l] = l < w ? rows[i][j0 + l] : T(0);
          std::memcpy(&buf[i], lanes, sizeof(Tile<T>));
        }
      }
      Vec even[kVecs] = {}, odd[kVecs] = {};
      std::size_t i = 0;
      for (; i + 2 <= k; i += 2)
        for (std::size_t u = 0; u < kVecs; ++u) {
          even[u] += buf[i].v[u] - buf[i].v[u];
          odd[u] += buf[i + 1].v[u] - buf[i + 1].v[u];
        }
      for (; i < k; ++i)
        for (std::size_t u = 0; u < kVecs; ++u) even[u] += buf[i].v[u] - buf[i].v[u];
      for (std::size_t u = 0; u < kVecs; ++u) bad[u] += even[u] + odd[u];
      for (const Comparator& c : net.comparators) compare_exchange(buf[c.a], buf[c.b]);
      double acc[kLanes] = {};
      for (const unsigned short r : net.outputs) {
        std::memcpy(lanes, &buf[r], sizeof(Tile<T>));
        for (std::size_t l = 0; l < kLanes; ++l) acc[l] += static_cast<double>(lanes[l]);
      }
      for (std::size_t l = 0; l < w; ++l) out[j0 + l] = static_cast<T>(acc[l] * inv);
    }
    std::memcpy(lanes, bad, sizeof(lanes));
    for (std::size_t l = 0; l < kLanes; ++l) finite = finite && lanes[l] == T(0);
  }
  return finite ? Status::ok : Status::non_finite;
}

template <typename T>
Status weighted_mean_impl(const Layers<T>& in, const double* w, T* const* outs, int threads) {
  const std::size_t k = in.k;
  double total = 0.0;
  for (std::size_t i = 0; i < k; ++i) total += w ? w[i] : 1.0;
  const double inv = 1.0 / total;
  // Coordinates per block: its float64 sums (32 KiB) stay in L1/L2 while the rows stream by.
  constexpr std::size_t kBlock = 4096;
  constexpr std::size_t kRows = 4;  // rows added per sweep of the sums: a quarter of the traffic
  const std::unique_ptr<std::size_t[]> first = first_items(in, kBlock);
  const std::size_t blocks = first[in.layers];
  bool finite = true;
#pragma omp parallel num_threads(threads) reduction(&& : finite)
  {
    const std::unique_ptr<double[]> sums(new double[kBlock]);
    double* acc = sums.get();
    T ok[kLanes] = {};
#pragma omp for schedule(static)
    for (std::size_t b = 0; b < blocks; ++b) {
      const auto [rows, out, j0, m] = item(in, first.get(), kBlock, outs, b);
      for (std::size_t l = 0; l < m; ++l) acc[l] = 0.0;
      std::size_t i = 0;
      for (; i + kRows <= k; i += kRows) {
        const T* __restrict x0 = rows[i] + j0;
        const T* __restrict x1 = rows[i + 1] + j0;
        const T* __restrict x2 = rows[i + 2] + j0;
        const T* __restrict x3 = rows[i + 3] + j0;
        const double w0 = w ? w[i] : 1.0, w1 = w ? w[i + 1] : 1.0;
        const double w2 = w ? w[i + 2] : 1.0, w3 = w ? w[i + 3] : 1.0;
        std::size_t l = 0;
        for (; l + kLanes <= m; l += kLanes) {
          for (std::size_t u = 0; u < kLanes; ++u) {
            const T a = x0[l + u], b1 = x1[l + u], c = x2[l + u], d = x3[l + u];
            acc[l + u] += w0 * static_cast<double>(a) + w1 * static_cast<double>(b1) +
                          w2 * static_cast<double>(c) + w3 * static_cast<double>(d);
            ok[u] += (a - a) + (b1 - b1) + (c - c) + (d - d);
          }
        }
        for (; l < m; ++l) {
          const T a = x0[l], b1 = x1[l], c = x2[l], d = x3[l];
          acc[l] += w0 * static_cast<double>(a) + w1 * static_cast<double>(b1) +
                    w2 * static_cast<double>(c) + w3 * static_cast<double>(d);
          ok[0] += (a - a) + (b1 - b1) + (c - c) + (d - d);
        }
      }
      for (; i < k; ++i) {
        const T* __restrict x0 = rows[i] + j0;
        const double w0 = w ? w[i] : 1.0;
        for (std::size_t l = 0; l < m; ++l) {
          acc[l] += w0 * static_cast<double>(x0[l]);
          ok[l % kLanes] += x0[l] - x0[l];
        }
      }
      for (std::size_t l = 0; l < m; ++l) out[j0 + l] = static_cast<T>(acc[l] * inv);
    }
    for (std::size_t l = 0; l < kLanes; ++l) finite = finite && ok[l] == T(0);
  }
  return finite ? Status::ok : Status::non_finite;
}

template <typename T>
Status pairwise_impl(const T* const* rows, std::size_t k, std::size_t p, double* out,
                     int threads) {
  constexpr std::size_t kSumLanes = 16;  // partial sums per pair: one AVX-512 register
  constexpr std::size_t kBlock = 512;  // K rows of one block stay in L2 (K = 100: 200 KB)
  const std::size_t blocks = (p + kBlock - 1) / kBlock;
  // One K x K partial sum per thread, added in thread order afterwards: the same result on
  // every run with the same thread count (a critical section would add in arrival order).
  const int teams = static_cast<int>(lesser(threads > 0 ? threads : 1, blocks > 0 ? blocks : 1));
  const std::unique_ptr<double[]> partials(new double[static_cast<std::size_t>(teams) * k * k]());
  int used = 1;
  bool finite = true;
#pragma omp parallel num_threads(teams) reduction(&& : finite)
  {
#pragma omp single
    used = omp_get_num_threads();
    double* mine = partials.get() + static_cast<std::size_t>(omp_get_thread_num()) * k * k;
#pragma omp for schedule(static)
    for (std::size_t b = 0; b < blocks; ++b) {
      const std::size_t j0 = b * kBlock, m = lesser(kBlock, p - j0);
      for (std::size_t i = 0; i < k; ++i) {
        const T* xi = rows[i] + j0;
        finite = finite && finite_lanes(xi, m);
        for (std::size_t j = i + 1; j < k; ++j) {
          const T* xj = rows[j] + j0;
          T lane[kSumLanes] = {};
          std::size_t t = 0;
          for (; t + kSumLanes <= m; t += kSumLanes)
            for (std::size_t l = 0; l < kSumLanes; ++l) {
              const T d = xi[t + l] - xj[t + l];
              lane[l] += d * d;
            }
          double s = 0.0;
          for (; t < m; ++t) {
            const double d = static_cast<double>(xi[t]) - static_cast<double>(xj[t]);
            s += d * d;
          }
          for (std::size_t l = 0; l < kSumLanes; ++l) s += static_cast<double>(lane[l]);
          mine[i * k + j] += s;
        }
      }
    }
  }
  for (std::size_t i = 0; i < k * k; ++i) out[i] = 0.0;
  for (int t = 0; t < used; ++t)
    for (std::size_t i = 0; i < k * k; ++i) out[i] += partials[static_cast<std::size_t>(t) * k * k + i];
  for (std::size_t i = 0; i < k; ++i)
    for (std::size_t j = i + 1; j < k; ++j) out[j * k + i] = out[i * k + j];
  return finite ? Status::ok : Status::non_finite;
}

// This file's build of every kernel.
inline Variant kernels() {
  return Variant{&rank_mean_impl<float>,     &rank_mean_impl<double>,
                 &weighted_mean_impl<float>, &weighted_mean_impl<double>,
                 &pairwise_impl<float>,      &pairwise_impl<double>};
}

}  // namespace
}  // namespace pipeward::aggregate::PIPEWARD_AGGREGATE_NS
