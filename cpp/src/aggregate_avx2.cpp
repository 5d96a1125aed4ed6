// The aggregate kernels compiled for AVX2 (flags from CMakeLists.txt by the file suffix).
#define PIPEWARD_AGGREGATE_NS avx2
#include "aggregate_kernels.hpp"

namespace pipeward::aggregate::detail {

const Variant& variant_avx2() {
  static const Variant v = avx2::kernels();
  return v;
}

}  // namespace pipeward::aggregate::detail
