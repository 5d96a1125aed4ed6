// The mask kernel, compiled once per ISA (secagg_mask.cpp, _avx2.cpp, _avx512.cpp) with
// PIPEWARD_SECAGG_NS naming the variant. ChaCha20 runs on kLanes blocks side by side, one block
// per vector lane, written so that the compiler vectorizes the lane loops for each ISA.
#pragma once

#include <omp.h>

#include <cstdint>

#include "chacha20_rounds.hpp"
#include "pipeward/secagg.hpp"

namespace pipeward::secagg::PIPEWARD_SECAGG_NS {

// Blocks side by side: 16 words x 16 lanes fill the 32 ZMM registers; AVX2 also runs faster
// with 16 lanes than with 8 (measured), the extra loads hide behind the arithmetic.
constexpr int kLanes = 16;

inline void lanes_quarter(uint32_t* a, uint32_t* b, uint32_t* c, uint32_t* d) {
#pragma GCC ivdep
  for (int l = 0; l < kLanes; ++l) {
    a[l] += b[l]; d[l] ^= a[l]; d[l] = (d[l] << 16) | (d[l] >> 16);
    c[l] += d[l]; b[l] ^= c[l]; b[l] = (b[l] << 12) | (b[l] >> 20);
    a[l] += b[l]; d[l] ^= a[l]; d[l] = (d[l] << 8) | (d[l] >> 24);
    c[l] += d[l]; b[l] ^= c[l]; b[l] = (b[l] << 7) | (b[l] >> 25);
  }
}

// Keystream of blocks first .. first + kLanes - 1: ks[word][lane].
inline void chacha_lanes(const uint32_t* key, const uint32_t* nonce, uint32_t first,
                         uint32_t (*ks)[kLanes]) {
  const uint32_t init[16] = {0x61707865u, 0x3320646eu, 0x79622d32u, 0x6b206574u,
                             key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7],
                             0u, nonce[0], nonce[1], nonce[2]};
  alignas(64) uint32_t x[16][kLanes];
  for (int w = 0; w < 16; ++w)
    for (int l = 0; l < kLanes; ++l) x[w][l] = init[w];
  for (int l = 0; l < kLanes; ++l) x[12][l] = first + static_cast<uint32_t>(l);
  chacha20_rounds(x, [](uint32_t* a, uint32_t* b, uint32_t* c, uint32_t* d) {
    lanes_quarter(a, b, c, d);
  });
  for (int w = 0; w < 16; ++w)
    for (int l = 0; l < kLanes; ++l) ks[w][l] = x[w][l] + init[w];
  for (int l = 0; l < kLanes; ++l) ks[12][l] = x[12][l] + first + static_cast<uint32_t>(l);
}

inline void mask_accumulate(uint32_t* out, uint64_t n, const uint32_t* key, const uint32_t* nonce,
                            uint32_t first_block, bool subtract, int threads) {
  constexpr uint64_t kGroup = 16u * kLanes;  // words per chacha_lanes call
  const int64_t groups = static_cast<int64_t>((n + kGroup - 1) / kGroup);
  const uint32_t sign = subtract ? 0xFFFFFFFFu : 1u;  // -1 mod 2^32
#pragma omp parallel for schedule(static) num_threads(threads) if (groups > 64)
  for (int64_t g = 0; g < groups; ++g) {
    alignas(64) uint32_t ks[16][kLanes];
    chacha_lanes(key, nonce, first_block + static_cast<uint32_t>(g * kLanes), ks);
    uint32_t* dst = out + static_cast<uint64_t>(g) * kGroup;
    const uint64_t left = n - static_cast<uint64_t>(g) * kGroup;
    if (left >= kGroup) {
      for (int l = 0; l < kLanes; ++l)
        for (int w = 0; w < 16; ++w) dst[16 * l + w] += sign * ks[w][l];
    } else {
      for (uint64_t i = 0; i < left; ++i) dst[i] += sign * ks[i % 16][i / 16];
    }
  }
}

}  // namespace pipeward::secagg::PIPEWARD_SECAGG_NS
