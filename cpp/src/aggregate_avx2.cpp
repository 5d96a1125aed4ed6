// The aggregate kernels compiled for AVX2 (flags from CMakeLists.txt by the file suffix).
#include "aggregate_kernels.hpp"

namespace pipeward::aggregate::detail {

const Variant& variant_avx2() {
  static const Variant v = PIPEWARD_AGGREGATE_VARIANT;
  return v;
}

}  // namespace pipeward::aggregate::detail
