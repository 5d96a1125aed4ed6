// PSI counting for row-major (rows, features) tables with few edges: every feature of a row is
// compared with each of its edges at once, which vectorises across features. Instead of a bin
// per value (a scattered increment each), it counts per (edge, feature) the values that reach
// the edge: the edges are non-decreasing, so a value reaches exactly the first `bin` of them,
// and bin counts are differences of those running counts. Private to the drift_psi*.cpp files:
// each includes it and builds it for its own instruction set, so this header uses nothing with
// external linkage.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

namespace pipeward::drift {

// Per-ISA entry points (drift_psi.cpp, drift_psi_avx2.cpp, drift_psi_avx512.cpp).
#define PIPEWARD_PSI_ROWS_DECL(suffix)                                                          \
  void psi_rows_##suffix(const float* data, int64_t n, int64_t F, int64_t stride,                \
                         const float* edges_t, int64_t k, int64_t* counts);                      \
  void psi_rows_##suffix(const double* data, int64_t n, int64_t F, int64_t stride,               \
                         const double* edges_t, int64_t k, int64_t* counts);
PIPEWARD_PSI_ROWS_DECL(portable)
PIPEWARD_PSI_ROWS_DECL(avx2)
PIPEWARD_PSI_ROWS_DECL(avx512)
#undef PIPEWARD_PSI_ROWS_DECL

namespace {

// Up to this many edges, a chunk's counters are K + 1 vectors held in registers.
constexpr int kMaxRegisterEdges = 16;

// A GCC/Clang vector of Bytes / sizeof(T) lanes (the attribute needs a non-dependent type).
template <typename T, int Bytes>
struct Vector;
template <int Bytes>
struct Vector<float, Bytes> {
  typedef float type __attribute__((vector_size(Bytes)));
};
template <int Bytes>
struct Vector<double, Bytes> {
  typedef double type __attribute__((vector_size(Bytes)));
};

// reached[e * F + f] += values of feature f >= edge e, nan[f] += its NaNs, for rows [0, n),
// with K edges and Bytes-wide vectors (the ISA's width), F >= the lanes of one vector. Each
// block of rows is swept once per chunk of features; the last chunk is moved back to end at F
// (overlapping the one before, whose lanes it leaves alone), so no load leaves the row.
template <typename T, int Bytes, int K>
void psi_reached_fixed(const T* data, int64_t n, int64_t F, int64_t stride, const T* edges_t,
                       int64_t* reached, int64_t* nan) {
  using V = typename Vector<T, Bytes>::type;
  using Count = decltype(V{} >= V{});  // lanes of -1 (true) or 0, as wide as T
  constexpr int kLanes = Bytes / static_cast<int>(sizeof(T));
  constexpr int64_t kBlockRows = 4096;  // stays in L2 between chunks; lanes cannot overflow
  for (int64_t lo = 0; lo < n; lo += kBlockRows) {
    const int64_t hi = std::min(n, lo + kBlockRows);
    for (int64_t f0 = 0; f0 < F; f0 += kLanes) {
      const int64_t start = std::min(f0, F - kLanes);
      V edge[K];
      for (int e = 0; e < K; ++e) std::memcpy(&edge[e], edges_t + e * F + start, sizeof(V));
      Count below[K + 1] = {};  // minus the counts: compares give -1
      for (int64_t s = lo; s < hi; ++s) {
        V v;
        std::memcpy(&v, data + s * stride + start, sizeof v);
        for (int e = 0; e < K; ++e) below[e] += v >= edge[e];
        below[K] += v != v;
      }
      for (int l = static_cast<int>(f0 - start); l < kLanes; ++l) {
        for (int e = 0; e < K; ++e) reached[e * F + start + l] -= below[e][l];
        nan[start + l] -= below[K][l];
      }
    }
  }
}

template <typename T>
using ReachedFn = void (*)(const T*, int64_t, int64_t, int64_t, const T*, int64_t*, int64_t*);

template <typename T, int Bytes, int... K>
constexpr std::array<ReachedFn<T>, sizeof...(K)> reached_table(std::integer_sequence<int, K...>) {
  return {&psi_reached_fixed<T, Bytes, K + 1>...};
}

// Any k and F: the counters in memory, one pass over the rows.
template <typename T>
void psi_reached_any(const T* data, int64_t n, int64_t F, int64_t stride, const T* edges_t,
                     int64_t k, int64_t* reached, int64_t* nan) {
  for (int64_t s = 0; s < n; ++s) {
    const T* row = data + s * stride;
    for (int64_t e = 0; e < k; ++e) {
      const T* et = edges_t + e * F;
      int64_t* r = reached + e * F;
      for (int64_t f = 0; f < F; ++f) r[f] += row[f] >= et[f] ? 1 : 0;
    }
    for (int64_t f = 0; f < F; ++f) nan[f] += row[f] != row[f] ? 1 : 0;
  }
}

// counts[f * (k + 2) + bin] += ... for rows [0, n); edges_t is (k, F): edge e of feature f at
// e * F + f, in the data's own type (float edges are the double edges rounded up, which keeps
// v >= edge exact, and keeps them non-decreasing). Bin = number of edges <= value (open
// tails), NaN -> k + 1: the same bins as psi_bin. Bytes: the vector width to use.
template <int Bytes, typename T>
inline void psi_rows_kernel(const T* data, int64_t n, int64_t F, int64_t stride,
                            const T* edges_t, int64_t k, int64_t* counts) {
  constexpr int kLanes = Bytes / static_cast<int>(sizeof(T));
  static constexpr auto kFixed =
      reached_table<T, Bytes>(std::make_integer_sequence<int, kMaxRegisterEdges>{});
  // reached[e * F + f]: values of feature f >= edge e; reached[k * F + f]: its NaNs.
  std::vector<int64_t> reached(static_cast<size_t>((k + 1) * F), 0);
  int64_t* nan = reached.data() + k * F;
  if (k >= 1 && k <= kMaxRegisterEdges && F >= kLanes) {
    kFixed[static_cast<size_t>(k - 1)](data, n, F, stride, edges_t, reached.data(), nan);
  } else {
    psi_reached_any(data, n, F, stride, edges_t, k, reached.data(), nan);
  }
  const int64_t nb = k + 2;
  for (int64_t f = 0; f < F; ++f) {
    int64_t* c = counts + f * nb;
    int64_t above = n - nan[f];  // values that reach no edge or more
    for (int64_t e = 0; e < k; ++e) {
      const int64_t next = reached[e * F + f];
      c[e] += above - next;
      above = next;
    }
    c[k] += above;
    c[k + 1] += nan[f];
  }
}

}  // namespace
}  // namespace pipeward::drift

#define PIPEWARD_PSI_ROWS_DEFINE(suffix, bytes)                                                        \
  namespace pipeward::drift {                                                                   \
  void psi_rows_##suffix(const float* d, int64_t n, int64_t F, int64_t s, const float* e,       \
                         int64_t k, int64_t* c) {                                               \
    psi_rows_kernel<bytes>(d, n, F, s, e, k, c);                                                       \
  }                                                                                             \
  void psi_rows_##suffix(const double* d, int64_t n, int64_t F, int64_t s, const double* e,     \
                         int64_t k, int64_t* c) {                                               \
    psi_rows_kernel<bytes>(d, n, F, s, e, k, c);                                                       \
  }                                                                                             \
  }
