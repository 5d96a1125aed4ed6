// The mask kernel built for AVX-512 (16 blocks per 512-bit vector, rotations in one instruction).
#define PIPEWARD_SECAGG_NS avx512
#include "secagg_mask_kernels.hpp"

namespace pipeward::secagg::avx512 {
void mask_accumulate_variant(uint32_t* out, uint64_t n, const uint32_t* key,
                             const uint32_t* nonce, uint32_t first_block, bool subtract,
                             int threads) {
  mask_accumulate(out, n, key, nonce, first_block, subtract, threads);
}
}  // namespace pipeward::secagg::avx512
