// The aggregate kernels, written once as plain loops over a fixed tile of lanes; each
// instruction-set file (aggregate_portable.cpp, _avx2.cpp, _avx512.cpp) compiles them with its
// own flags, and the compiler turns every lane loop into vector min/max/add/fma.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstddef>
#include <limits>
#include <vector>

#include "pipeward/aggregate.hpp"

namespace pipeward::aggregate::detail {

// Lanes per tile: 64 bytes of floats; one AVX-512 register, two AVX2 registers.
constexpr std::size_t kLanes = 16;

// A sorting network cut down to the ranks one call needs (aggregate.cpp): the comparators
// on `slots` slots, and the slot that ends up holding each needed rank.
struct SelectionNetwork {
  std::vector<Comparator> comparators;
  std::vector<unsigned short> outputs;
  std::size_t slots = 0;
};
const SelectionNetwork& selection_network(std::size_t k, std::size_t lo, std::size_t hi);

template <typename T>
inline bool finite_lanes(const T* v, std::size_t n) {
  bool ok = true;
  for (std::size_t l = 0; l < n; ++l) ok &= (v[l] - v[l]) == T(0);  // false for NaN and inf
  return ok;
}

template <typename T>
Status rank_mean_impl(const T* const* rows, std::size_t k, std::size_t p, std::size_t lo,
                      std::size_t hi, T* out, int threads) {
  // One tile: kLanes coordinates of every client, as GCC/Clang vectors (SSE/NEON, AVX2 or
  // AVX-512 by the file's flags); sorting it is min/max of whole vectors, lane by lane.
  typedef T Vec __attribute__((vector_size(kLanes * sizeof(T))));
  struct Row {  // std::vector<Vec> would drop the vector attribute
    Vec v;
  };
  const SelectionNetwork& net = selection_network(k, lo, hi);
  const std::size_t n = net.slots;
  const std::size_t tiles = (p + kLanes - 1) / kLanes;
  const double inv = 1.0 / static_cast<double>(hi - lo);
  bool finite = true;
#pragma omp parallel num_threads(threads) reduction(&& : finite)
  {
    std::vector<Row> rowbuf(n);  // slots >= k are the network's +inf: never read
    Row* buf = rowbuf.data();
#pragma omp for schedule(static)
    for (std::size_t t = 0; t < tiles; ++t) {
      const std::size_t j0 = t * kLanes;
      const std::size_t w = std::min(kLanes, p - j0);
      Vec ok{};  // stays zero while every value is finite
      for (std::size_t i = 0; i < k; ++i) {
        Vec v{};
        std::memcpy(&v, rows[i] + j0, w * sizeof(T));
        ok += v - v;  // NaN from any NaN or infinity
        buf[i].v = v;
      }
      for (std::size_t l = 0; l < kLanes; ++l) finite = finite && ok[l] == T(0);
      for (const Comparator& c : net.comparators) {
        const Vec x = buf[c.a].v, y = buf[c.b].v;
        buf[c.a].v = x < y ? x : y;
        buf[c.b].v = x < y ? y : x;
      }
      double acc[kLanes] = {};
      for (const unsigned short r : net.outputs)
        for (std::size_t l = 0; l < kLanes; ++l) acc[l] += static_cast<double>(buf[r].v[l]);
      for (std::size_t l = 0; l < w; ++l) out[j0 + l] = static_cast<T>(acc[l] * inv);
    }
  }
  return finite ? Status::ok : Status::non_finite;
}

template <typename T>
Status weighted_mean_impl(const T* const* rows, std::size_t k, std::size_t p, const double* w,
                          T* out, int threads) {
  double total = 0.0;
  for (std::size_t i = 0; i < k; ++i) total += w ? w[i] : 1.0;
  const double inv = 1.0 / total;
  constexpr std::size_t kBlock = 1024;  // coordinates per block: its sums stay in L1
  const std::size_t blocks = (p + kBlock - 1) / kBlock;
  bool finite = true;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(&& : finite)
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::size_t j0 = b * kBlock, m = std::min(kBlock, p - j0);
    double acc[kBlock] = {};
    for (std::size_t i = 0; i < k; ++i) {
      const T* src = rows[i] + j0;
      const double wi = w ? w[i] : 1.0;
      for (std::size_t l = 0; l < m; ++l) acc[l] += wi * static_cast<double>(src[l]);
      finite = finite && finite_lanes(src, m);
    }
    for (std::size_t l = 0; l < m; ++l) out[j0 + l] = static_cast<T>(acc[l] * inv);
  }
  return finite ? Status::ok : Status::non_finite;
}

template <typename T>
Status pairwise_impl(const T* const* rows, std::size_t k, std::size_t p, double* out,
                     int threads) {
  constexpr std::size_t kBlock = 512;  // K rows of one block stay in L2 (K = 100: 200 KB)
  const std::size_t blocks = (p + kBlock - 1) / kBlock;
  std::fill(out, out + k * k, 0.0);
  bool finite = true;
#pragma omp parallel num_threads(threads) reduction(&& : finite)
  {
    std::vector<double> mine(k * k, 0.0);
#pragma omp for schedule(static)
    for (std::size_t b = 0; b < blocks; ++b) {
      const std::size_t j0 = b * kBlock, m = std::min(kBlock, p - j0);
      for (std::size_t i = 0; i < k; ++i) {
        const T* xi = rows[i] + j0;
        finite = finite && finite_lanes(xi, m);
        for (std::size_t j = i + 1; j < k; ++j) {
          const T* xj = rows[j] + j0;
          T lane[kLanes] = {};
          std::size_t t = 0;
          for (; t + kLanes <= m; t += kLanes)
            for (std::size_t l = 0; l < kLanes; ++l) {
              const T d = xi[t + l] - xj[t + l];
              lane[l] += d * d;
            }
          double s = 0.0;
          for (; t < m; ++t) {
            const double d = static_cast<double>(xi[t]) - static_cast<double>(xj[t]);
            s += d * d;
          }
          for (std::size_t l = 0; l < kLanes; ++l) s += static_cast<double>(lane[l]);
          mine[i * k + j] += s;
        }
      }
    }
#pragma omp critical
    for (std::size_t i = 0; i < k * k; ++i) out[i] += mine[i];
  }
  for (std::size_t i = 0; i < k; ++i)
    for (std::size_t j = i + 1; j < k; ++j) out[j * k + i] = out[i * k + j];
  return finite ? Status::ok : Status::non_finite;
}

// One instruction-set variant: the kernels compiled with that file's flags.
struct Variant {
  Status (*rank_mean_f32)(const float* const*, std::size_t, std::size_t, std::size_t,
                          std::size_t, float*, int);
  Status (*rank_mean_f64)(const double* const*, std::size_t, std::size_t, std::size_t,
                          std::size_t, double*, int);
  Status (*weighted_mean_f32)(const float* const*, std::size_t, std::size_t, const double*,
                              float*, int);
  Status (*weighted_mean_f64)(const double* const*, std::size_t, std::size_t, const double*,
                              double*, int);
  Status (*pairwise_f32)(const float* const*, std::size_t, std::size_t, double*, int);
  Status (*pairwise_f64)(const double* const*, std::size_t, std::size_t, double*, int);
};

#define PIPEWARD_AGGREGATE_VARIANT                                                         \
  Variant {                                                                                \
    &rank_mean_impl<float>, &rank_mean_impl<double>, &weighted_mean_impl<float>,           \
        &weighted_mean_impl<double>, &pairwise_impl<float>, &pairwise_impl<double>         \
  }

// One per instruction-set file; the x86 ones exist only on x86-64 (dispatch.hpp).
const Variant& variant_portable();
const Variant& variant_avx2();
const Variant& variant_avx512();

}  // namespace pipeward::aggregate::detail
