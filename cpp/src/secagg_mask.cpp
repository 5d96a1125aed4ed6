// Secure aggregation masks: the portable variant and the run-time dispatch to the AVX2 /
// AVX-512 builds of the same source (secagg_mask_kernels.hpp).
#define PIPEWARD_SECAGG_NS portable
#include "secagg_mask_kernels.hpp"

#include "pipeward/common.hpp"
#include "pipeward/dispatch.hpp"

namespace pipeward::secagg {

using MaskFn = void (*)(uint32_t*, uint64_t, const uint32_t*, const uint32_t*, uint32_t, bool, int);

// The x86 builds of the same source exist only on x86-64 (dispatch.hpp names them there).
namespace avx2 {
void mask_accumulate_variant(uint32_t*, uint64_t, const uint32_t*, const uint32_t*, uint32_t, bool, int);
}
namespace avx512 {
void mask_accumulate_variant(uint32_t*, uint64_t, const uint32_t*, const uint32_t*, uint32_t, bool, int);
}

namespace {
const Variants<MaskFn> kMask{portable::mask_accumulate,
                             PIPEWARD_AVX2(avx2::mask_accumulate_variant),
                             PIPEWARD_AVX512(avx512::mask_accumulate_variant)};
}  // namespace

void mask_accumulate(uint32_t* out, uint64_t n, const uint32_t* key, const uint32_t* nonce,
                     uint32_t first_block, bool subtract, int threads) {
  kMask.select()(out, n, key, nonce, first_block, subtract, threads);
}

}  // namespace pipeward::secagg
