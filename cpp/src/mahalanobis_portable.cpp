// Portable variant of the Mahalanobis tiles: plain scalars, which the compiler may vectorise
// for the baseline instruction set. Used when PIPEWARD_ISA=portable or on other processors.
#include "mahalanobis_tile.hpp"

namespace pipeward::mahalanobis::detail {
namespace {

template <typename T>
struct Scalar {
  using scalar = T;
  using reg = T;
  static constexpr int lanes = 1;
  static reg zero() { return T(0); }
  static reg load(const T* p) { return *p; }
  static reg set1(T x) { return x; }
  static reg fmadd(reg a, reg b, reg c) { return a * b + c; }
  static void store(T* p, reg r) { *p = r; }
  static T hsum(reg r) { return r; }
};

constexpr int kMR = 4;
using F64 = tile::Kernels<Scalar<double>, kMR, 4>;
using F32 = tile::Kernels<Scalar<float>, kMR, 4>;

}  // namespace

const Variant& variant_portable() {
  static const Variant v{kMR, F64::NR, F32::NR, &F64::distances, &F32::distances,
                         &F64::gram_upper};
  return v;
}

}  // namespace pipeward::mahalanobis::detail
