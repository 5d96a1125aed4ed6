// Portable variant of the nearest-distance scan: one lane, plain C++ (any architecture).
#include "nearest_kernels.hpp"
#include "nearest_scan.hpp"

namespace pipeward::nearest::detail {
namespace {

template <typename S>
struct Scalar {
  using scalar = S;
  using reg = S;
  static constexpr std::size_t lanes = 1;
  static reg zero() { return S(0); }
  static reg load(const S* p) { return *p; }
  static reg load_tail(const S* p, std::size_t) { return *p; }  // never called: lanes == 1
  static reg sub(reg a, reg b) { return a - b; }
  static reg fmadd(reg a, reg b, reg c) { return a * b + c; }
  static S hsum(reg r) { return r; }
  static void hsum4(reg a, reg b, reg c, reg d, S* out) {
    out[0] = a;
    out[1] = b;
    out[2] = c;
    out[3] = d;
  }
};

}  // namespace

const Variant& variant_portable() {
  static const Variant v{&scan::Scan<Scalar<double>>::run, &scan::Scan<Scalar<float>>::run};
  return v;
}

}  // namespace pipeward::nearest::detail
