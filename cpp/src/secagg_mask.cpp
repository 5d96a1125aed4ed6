// Secure aggregation masks: the portable variant and the run-time dispatch to the AVX2 /
// AVX-512 builds of the same source (secagg_mask_kernels.hpp).
#define PIPEWARD_SECAGG_NS portable
#include "secagg_mask_kernels.hpp"

#include "pipeward/common.hpp"
#include "pipeward/cpu_features.hpp"

namespace pipeward::secagg {

#if defined(PIPEWARD_X86)
namespace avx2 {
void mask_accumulate_variant(uint32_t*, uint64_t, const uint32_t*, const uint32_t*, uint32_t, bool, int);
}
namespace avx512 {
void mask_accumulate_variant(uint32_t*, uint64_t, const uint32_t*, const uint32_t*, uint32_t, bool, int);
}
#endif

void mask_accumulate(uint32_t* out, uint64_t n, const uint32_t* key, const uint32_t* nonce,
                     uint32_t first_block, bool subtract, int threads) {
#if defined(PIPEWARD_X86)
  if (isa_enabled(Isa::avx512))
    return avx512::mask_accumulate_variant(out, n, key, nonce, first_block, subtract, threads);
  if (isa_enabled(Isa::avx2))
    return avx2::mask_accumulate_variant(out, n, key, nonce, first_block, subtract, threads);
#endif
  portable::mask_accumulate(out, n, key, nonce, first_block, subtract, threads);
}

}  // namespace pipeward::secagg
