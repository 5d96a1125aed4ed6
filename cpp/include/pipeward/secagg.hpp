// Secure aggregation masks: the ChaCha20 keystream (RFC 8439) read as little-endian uint32
// words and added to (or subtracted from) a vector in Z_2^32.
#pragma once

#include <cstdint>

namespace pipeward::secagg {

// out[i] += w_i (or -= w_i when `subtract`), mod 2^32, where w_0, w_1, ... are the keystream
// words of ChaCha20(key, nonce) from block counter `first_block` on (word i is word i % 16 of
// block first_block + i / 16). n / 16 + first_block must stay below 2^32 (the caller checks).
void mask_accumulate(uint32_t* out, uint64_t n, const uint32_t* key, const uint32_t* nonce,
                     uint32_t first_block, bool subtract, int threads);

}  // namespace pipeward::secagg
