// SHA-256 (FIPS 180-4) for the GPU kernels. The portable C++ compression belongs in
// cpp/include/pipeward/sha256.hpp as PIPEWARD_HD code; until that header exposes one, this
// copy is the shared one (same constants and round function). It is host/device code so the
// same padding and block loop can be run on the host against hashlib (tests/test_gpu_sources.py):
// on the device rotations are funnel shifts and big-endian loads byte permutes.
#pragma once

#include <cstdint>

#include "pipeward/common.hpp"

namespace pipeward::sha256_device {

PIPEWARD_HD uint32_t rotr(uint32_t x, int n) {
#if defined(__CUDA_ARCH__)
  return __funnelshift_r(x, x, n);
#else
  return (x >> n) | (x << (32 - n));
#endif
}

PIPEWARD_HD uint32_t bswap(uint32_t x) {
#if defined(__CUDA_ARCH__)
  return __byte_perm(x, 0, 0x0123);
#else
  return (x >> 24) | ((x >> 8) & 0xff00u) | ((x << 8) & 0xff0000u) | (x << 24);
#endif
}

struct State {
  uint32_t h[8];
};

// One 64-byte block, w[0..15] as big-endian words (overwritten: the schedule lives in a
// 16-word ring so it stays in registers). Fully unrolled, so K[t] become immediates.
PIPEWARD_HD void compress(State& s, uint32_t w[16]) {
  constexpr uint32_t K[64] = {
      0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u,
      0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu,
      0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu,
      0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau, 0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u,
      0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu,
      0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
      0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u, 0x19a4c116u,
      0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
      0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u,
      0xc67178f2u};
  uint32_t a = s.h[0], b = s.h[1], c = s.h[2], d = s.h[3];
  uint32_t e = s.h[4], f = s.h[5], g = s.h[6], h = s.h[7];
#pragma unroll
  for (int t = 0; t < 64; ++t) {
    if (t >= 16) {
      const uint32_t w15 = w[(t - 15) & 15], w2 = w[(t - 2) & 15];
      const uint32_t s0 = rotr(w15, 7) ^ rotr(w15, 18) ^ (w15 >> 3);
      const uint32_t s1 = rotr(w2, 17) ^ rotr(w2, 19) ^ (w2 >> 10);
      w[t & 15] += s0 + w[(t - 7) & 15] + s1;
    }
    const uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) +
                        K[t] + w[t & 15];
    const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g; g = f; f = e; e = d + t1;
    d = c; c = b; b = a; a = t1 + t2;
  }
  s.h[0] += a; s.h[1] += b; s.h[2] += c; s.h[3] += d;
  s.h[4] += e; s.h[5] += f; s.h[6] += g; s.h[7] += h;
}

// Big-endian word i of block `blk` of the padded message: message bytes, then 0x80, zeros,
// and the 64-bit bit length in the last two words of the last block.
PIPEWARD_HD uint32_t padded_word(const uint8_t* p, uint64_t len, uint64_t blk, uint64_t n_blocks,
                                 int i) {
  if (blk + 1 == n_blocks && i >= 14) {
    const uint64_t bits = len * 8;
    return static_cast<uint32_t>(i == 14 ? bits >> 32 : bits);
  }
  uint32_t word = 0;
  for (int k = 0; k < 4; ++k) {
    const uint64_t at = 64 * blk + static_cast<uint64_t>(4 * i + k);
    const uint32_t byte = at < len ? p[at] : (at == len ? 0x80u : 0u);
    word = (word << 8) | byte;
  }
  return word;
}

// SHA-256 of `len` bytes at `p` (any alignment) into `digest` (32 bytes, standard order).
// Whole blocks of a 16-byte-aligned message are read with 16-byte loads; the last one or two
// blocks (and every block of an unaligned message) go through padded_word.
PIPEWARD_HD void hash_message(const uint8_t* p, uint64_t len, uint8_t* digest) {
  State s{{0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au, 0x510e527fu, 0x9b05688cu,
           0x1f83d9abu, 0x5be0cd19u}};
  const uint64_t full = len / 64;
  const uint64_t n_blocks = (len + 8) / 64 + 1;  // message + 0x80 + 8 length bytes, rounded up
  const bool aligned16 = (reinterpret_cast<uintptr_t>(p) & 15u) == 0;
  uint32_t w[16];
  for (uint64_t blk = 0; blk < n_blocks; ++blk) {
    if (blk < full && aligned16) {
      const uint4* q4 = reinterpret_cast<const uint4*>(p + 64 * blk);
#pragma unroll
      for (int i = 0; i < 4; ++i) {
#if defined(__CUDA_ARCH__)
        const uint4 v = __ldg(q4 + i);
#else
        const uint4 v = q4[i];
#endif
        w[4 * i + 0] = bswap(v.x); w[4 * i + 1] = bswap(v.y);
        w[4 * i + 2] = bswap(v.z); w[4 * i + 3] = bswap(v.w);
      }
    } else {
      for (int i = 0; i < 16; ++i) w[i] = padded_word(p, len, blk, n_blocks, i);
    }
    compress(s, w);
  }
  for (int i = 0; i < 8; ++i) {
    digest[4 * i + 0] = static_cast<uint8_t>(s.h[i] >> 24);
    digest[4 * i + 1] = static_cast<uint8_t>(s.h[i] >> 16);
    digest[4 * i + 2] = static_cast<uint8_t>(s.h[i] >> 8);
    digest[4 * i + 3] = static_cast<uint8_t>(s.h[i]);
  }
}

}  // namespace pipeward::sha256_device
