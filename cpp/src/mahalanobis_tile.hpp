// Register-tiled inner loops shared by every instruction-set variant of the Mahalanobis
// kernels. Each variant file supplies a vector type V (scalar, AVX2 or AVX-512) and
// instantiates these templates with it; V lives in that file's anonymous namespace, so each
// instantiation is private to the file that was compiled with the matching ISA flags.
// Nothing from the standard library is used here for the same reason (a shared inline
// function compiled with AVX-512 could otherwise be picked by the linker for every caller).
//
// V provides: scalar, reg, lanes, zero(), load(p), set1(x), fmadd(a, b, c) = a*b + c,
// store(p, r), hsum(r).
#pragma once

#include <cstddef>

namespace pipeward::mahalanobis::tile {

template <class V, int MR, int NV>
struct Kernels {
  using T = typename V::scalar;
  using R = typename V::reg;
  static constexpr int NR = NV * V::lanes;  // panel width (columns of the factor per pass)

  // Squared row norms of C W for an MR-multiple block of centred rows C (ldc apart).
  // `packed` holds W in column panels of NR (zero-padded); with `lower`, panel p starts at
  // row p*NR because W is lower triangular. `acc` is scratch of rows * lanes.
  static void distances(const T* C, std::size_t ldc, std::size_t rows, std::size_t d,
                        const T* packed, bool lower, T* acc, T* out) {
    for (std::size_t i = 0; i < rows; ++i) V::store(acc + i * V::lanes, V::zero());
    const T* panel = packed;
    for (std::size_t j0 = 0; j0 < d; j0 += NR) {
      const std::size_t k0 = lower ? j0 : 0;
      for (std::size_t i0 = 0; i0 < rows; i0 += MR) {
        R z[MR][NV];
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) z[i][v] = V::zero();
        const T* a = C + i0 * ldc;
        const T* b = panel;
        for (std::size_t k = k0; k < d; ++k, b += NR) {
          R w[NV];
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) w[v] = V::load(b + v * V::lanes);
#pragma GCC unroll 16
          for (int i = 0; i < MR; ++i) {
            const R c = V::set1(a[i * ldc + k]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) z[i][v] = V::fmadd(c, w[v], z[i][v]);
          }
        }
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
          R s = V::load(acc + (i0 + i) * V::lanes);
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) s = V::fmadd(z[i][v], z[i][v], s);
          V::store(acc + (i0 + i) * V::lanes, s);
        }
      }
      panel += (d - k0) * NR;
    }
    for (std::size_t i = 0; i < rows; ++i) out[i] = V::hsum(V::load(acc + i * V::lanes));
  }

  // M += C^T C on the tiles that touch the upper triangle. C has `rows` rows, ldc apart, and
  // zeros in columns d..ldc; M is ldc wide with at least round_up(d, MR) rows.
  static void gram_upper(const T* C, std::size_t ldc, std::size_t rows, std::size_t d, T* M) {
    for (std::size_t j0 = 0; j0 < d; j0 += NR) {
      for (std::size_t i0 = 0; i0 < d && i0 < j0 + NR; i0 += MR) {
        R g[MR][NV];
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) g[i][v] = V::zero();
        const T* row = C;
        for (std::size_t k = 0; k < rows; ++k, row += ldc) {
          R w[NV];
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) w[v] = V::load(row + j0 + v * V::lanes);
#pragma GCC unroll 16
          for (int i = 0; i < MR; ++i) {
            const R c = V::set1(row[i0 + i]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) g[i][v] = V::fmadd(c, w[v], g[i][v]);
          }
        }
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
          T* m = M + (i0 + i) * ldc + j0;
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) {
            R s = V::load(m + v * V::lanes);
            V::store(m + v * V::lanes, V::fmadd(V::set1(T(1)), g[i][v], s));
          }
        }
      }
    }
  }
};

}  // namespace pipeward::mahalanobis::tile

namespace pipeward::mahalanobis::detail {

// The variant entry points, one set per instruction set. Shapes follow tile::Kernels.
struct Variant {
  int mr;                 // rows per register tile
  int nr_f64, nr_f32;     // panel widths
  void (*distances_f64)(const double*, std::size_t, std::size_t, std::size_t, const double*,
                        bool, double*, double*);
  void (*distances_f32)(const float*, std::size_t, std::size_t, std::size_t, const float*,
                        bool, float*, float*);
  void (*gram_upper_f64)(const double*, std::size_t, std::size_t, std::size_t, double*);
};

const Variant& variant_portable();
const Variant& variant_avx2();
const Variant& variant_avx512();

}  // namespace pipeward::mahalanobis::detail
