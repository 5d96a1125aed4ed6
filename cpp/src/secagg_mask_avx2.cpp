// The mask kernel built for AVX2 (16 blocks side by side: two 256-bit vectors per state word).
#define PIPEWARD_SECAGG_NS avx2
#include "secagg_mask_kernels.hpp"

namespace pipeward::secagg::avx2 {
void mask_accumulate_variant(uint32_t* out, uint64_t n, const uint32_t* key,
                             const uint32_t* nonce, uint32_t first_block, bool subtract,
                             int threads) {
  mask_accumulate(out, n, key, nonce, first_block, subtract, threads);
}
}  // namespace pipeward::secagg::avx2
