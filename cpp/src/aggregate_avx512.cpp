// The aggregate kernels compiled for AVX512 (flags from CMakeLists.txt by the file suffix).
#define PIPEWARD_AGGREGATE_NS avx512
#include "aggregate_kernels.hpp"

namespace pipeward::aggregate::detail {

const Variant& variant_avx512() {
  static const Variant v = avx512::kernels();
  return v;
}

}  // namespace pipeward::aggregate::detail
