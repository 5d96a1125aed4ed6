// Portable variant of the nearest-distance scan, for any architecture: GCC/Clang generic
// vectors of 16 bytes (4 floats, 2 doubles), the baseline vector register of x86-64 (SSE2)
// and aarch64 (NEON), so the compiler maps them onto it with no ISA flag (scalar code where a
// target has none). Wider generic vectors than the hardware's are kept on the stack, and one
// scalar lane per row, as before, made every row's sum one serial chain of adds.
#include <cstdint>

#include "nearest_kernels.hpp"
#include "nearest_scan.hpp"

namespace pipeward::nearest::detail {
namespace {

template <typename S, typename I, std::size_t L>
struct Lanes {
  static_assert(sizeof(S) == sizeof(I), "a lane mask has the lane's width");
  using scalar = S;
  typedef S reg __attribute__((vector_size(sizeof(S) * L)));
  typedef I mask __attribute__((vector_size(sizeof(I) * L)));
  static constexpr std::size_t lanes = L;

  static reg zero() { return reg{}; }
  static reg load(const S* p) {
    reg r;
    __builtin_memcpy(&r, p, sizeof r);  // unaligned; a fixed size, so a plain load
    return r;
  }
  // p's first n < L lanes, the rest 0, reading nothing past them. With a full vector before p
  // in its row (k >= L), the L elements ending at p + n are loaded and the lanes summed
  // already are cleared by a bit mask (an AND: a cleared inf or NaN is +0, not NaN). Filling
  // lanes one by one instead costs a memcpy call and a stalled store-to-load forward per row;
  // rows shorter than L, with nothing to read back into, still do.
  static reg load_tail(const S* p, std::size_t n, std::size_t k) {
    if (k >= L) {
      mask lane;
      for (std::size_t i = 0; i < L; ++i) lane[i] = static_cast<I>(i);
      const mask keep = lane >= static_cast<I>(L - n);
      return reinterpret_cast<reg>(reinterpret_cast<mask>(load(p + n - L)) & keep);
    }
    S part[L] = {};
    for (std::size_t i = 0; i < n; ++i) part[i] = p[i];
    return load(part);
  }
  static reg sub(reg a, reg b) { return a - b; }
  static reg fmadd(reg a, reg b, reg c) { return a * b + c; }
  // Pairwise: halves added lane by lane until one lane is left.
  static S hsum(reg r) {
    for (std::size_t w = L / 2; w > 0; w /= 2)
      for (std::size_t i = 0; i < w; ++i) r[i] += r[i + w];
    return r[0];
  }
  static void hsum4(reg a, reg b, reg c, reg d, S* out) {
    out[0] = hsum(a);
    out[1] = hsum(b);
    out[2] = hsum(c);
    out[3] = hsum(d);
  }
};

}  // namespace

const Variant& variant_portable() {
  static const Variant v{&scan::Scan<Lanes<double, std::int64_t, 2>>::run,
                         &scan::Scan<Lanes<float, std::int32_t, 4>>::run};
  return v;
}

}  // namespace pipeward::nearest::detail
