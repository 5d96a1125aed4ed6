// SHA-256 (FIPS 180-4) message hashing for the GPU kernels. The round function, constants and
// initial state are the CPU code's (pipeward/sha256.hpp, PIPEWARD_HD); what is GPU-specific is
// how words reach the registers: whole 64-byte blocks of an aligned message as four 16-byte
// loads with a byte-permute to big-endian, the schedule kept as a 16-word ring in registers.
// It is host/device code, so the same padding and block loop run on the host against hashlib
// (tests/test_gpu_sources.py).
#pragma once

#include <cstdint>

#include "pipeward/common.hpp"
#include "pipeward/sha256.hpp"

namespace pipeward::sha256_device {

namespace sha = pipeward::sha256;

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

// One 64-byte block given as big-endian words w[0..15] (overwritten by the schedule): the
// loop of sha::compress_block on words already in registers.
PIPEWARD_HD void compress(State& s, uint32_t w[16]) {
  uint32_t a = s.h[0], b = s.h[1], c = s.h[2], d = s.h[3];
  uint32_t e = s.h[4], f = s.h[5], g = s.h[6], h = s.h[7];
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int t = 0; t < 64; ++t) {
    if (t >= 16) {
      w[t & 15] += sha::small_sigma1(w[(t - 2) & 15]) + w[(t - 7) & 15] +
                   sha::small_sigma0(w[(t - 15) & 15]);
    }
    const uint32_t t1 = h + sha::big_sigma1(e) + sha::ch(e, f, g) + sha::round_constant(t) + w[t & 15];
    const uint32_t t2 = sha::big_sigma0(a) + sha::maj(a, b, c);
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
  State s;
  sha::initial_state(s.h);
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
  for (int i = 0; i < 8; ++i) sha::store_be32(digest + 4 * i, s.h[i]);
}

}  // namespace pipeward::sha256_device
