// The inner scan shared by every instruction-set variant of the nearest-distance kernel: one
// query against a run of reference rows, four rows at a time (four independent accumulators
// hide the FMA latency). Each variant file supplies a vector type V and instantiates Scan<V>
// in its own anonymous namespace, compiled with that ISA's flags; nothing from the standard
// library is used here so no ISA-specific inline function leaks to other callers.
//
// V provides: scalar, reg, lanes, zero(), load(p), load_tail(p, r, k) (p's first r lanes, the
// rest 0; p is k elements into its row, which a variant may read back into, never past r),
// sub(a, b), fmadd(a, b, c) = a*b + c, hsum(r), hsum4(a, b, c, d, out) (the four sums at
// once: one transpose-and-add instead of four reductions).
#pragma once

#include <cstddef>
#include <cstdint>

namespace pipeward::nearest::scan {

template <class V>
struct Scan {
  using T = typename V::scalar;
  using R = typename V::reg;

  static inline R step(const T* x, const T* y, std::size_t k, R acc) {
    const R diff = V::sub(V::load(y + k), V::load(x + k));
    return V::fmadd(diff, diff, acc);
  }
  static inline R tail(const T* x, const T* y, std::size_t k, std::size_t r, R acc) {
    const R diff = V::sub(V::load_tail(y + k, r, k), V::load_tail(x + k, r, k));
    return V::fmadd(diff, diff, acc);
  }

  // Rows [j0, j1) of Y: lowers best / best_index where a row is strictly closer (so the first
  // index wins ties, as in a sequential scan).
  static void run(const T* x, const T* Y, std::ptrdiff_t ldy, std::size_t j0, std::size_t j1,
                  std::size_t d, T* best, std::int64_t* best_index) {
    const std::size_t full = d - d % V::lanes;
    const std::size_t rest = d - full;
    T b = *best;
    std::int64_t bi = *best_index;
    std::size_t j = j0;
    for (; j + 4 <= j1; j += 4) {
      const T* y0 = Y + static_cast<std::ptrdiff_t>(j) * ldy;
      const T* y1 = y0 + ldy;
      const T* y2 = y1 + ldy;
      const T* y3 = y2 + ldy;
      R a0 = V::zero(), a1 = V::zero(), a2 = V::zero(), a3 = V::zero();
      for (std::size_t k = 0; k < full; k += V::lanes) {
        a0 = step(x, y0, k, a0);
        a1 = step(x, y1, k, a1);
        a2 = step(x, y2, k, a2);
        a3 = step(x, y3, k, a3);
      }
      if (rest) {
        a0 = tail(x, y0, full, rest, a0);
        a1 = tail(x, y1, full, rest, a1);
        a2 = tail(x, y2, full, rest, a2);
        a3 = tail(x, y3, full, rest, a3);
      }
      T s[4];
      V::hsum4(a0, a1, a2, a3, s);
      for (int q = 0; q < 4; ++q) {
        if (s[q] < b) {
          b = s[q];
          bi = static_cast<std::int64_t>(j) + q;
        }
      }
    }
    for (; j < j1; ++j) {
      const T* y = Y + static_cast<std::ptrdiff_t>(j) * ldy;
      R a = V::zero();
      for (std::size_t k = 0; k < full; k += V::lanes) a = step(x, y, k, a);
      if (rest) a = tail(x, y, full, rest, a);
      const T s = V::hsum(a);
      if (s < b) {
        b = s;
        bi = static_cast<std::int64_t>(j);
      }
    }
    *best = b;
    *best_index = bi;
  }
};

}  // namespace pipeward::nearest::scan
