// SHA-256 of 16 independent messages at once with AVX-512 (multi-buffer): lane j of every
// vector belongs to message j, so each instruction does one step of FIPS 180-4 §6.2.2 for 16
// messages. Built with -mavx512f/bw/dq/vl; called only when cpu_features() reports AVX-512.
// Pays off when many files are hashed at once; one message at a time is SHA-NI's job.
#include <immintrin.h>

#include "pipeward/sha256.hpp"

namespace pipeward::sha256 {
namespace {

inline __m512i xor3(__m512i a, __m512i b, __m512i c) { return _mm512_ternarylogic_epi32(a, b, c, 0x96); }
inline __m512i big_sigma0_x16(__m512i x) {
  return xor3(_mm512_ror_epi32(x, 2), _mm512_ror_epi32(x, 13), _mm512_ror_epi32(x, 22));
}
inline __m512i big_sigma1_x16(__m512i x) {
  return xor3(_mm512_ror_epi32(x, 6), _mm512_ror_epi32(x, 11), _mm512_ror_epi32(x, 25));
}
inline __m512i small_sigma0_x16(__m512i x) {
  return xor3(_mm512_ror_epi32(x, 7), _mm512_ror_epi32(x, 18), _mm512_srli_epi32(x, 3));
}
inline __m512i small_sigma1_x16(__m512i x) {
  return xor3(_mm512_ror_epi32(x, 17), _mm512_ror_epi32(x, 19), _mm512_srli_epi32(x, 10));
}
// Ch(x,y,z) = x ? y : z and Maj(x,y,z) as ternary-logic truth tables.
inline __m512i ch_x16(__m512i x, __m512i y, __m512i z) { return _mm512_ternarylogic_epi32(x, y, z, 0xCA); }
inline __m512i maj_x16(__m512i x, __m512i y, __m512i z) { return _mm512_ternarylogic_epi32(x, y, z, 0xE8); }

}  // namespace

void blocks_x16_avx512(uint32_t state[8][16], const uint8_t* const data[16], size_t nblocks) {
  // Big-endian words: reverse the bytes of each 32-bit lane.
  const __m512i bswap = _mm512_set4_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203);
  // Word t of every lane's block is gathered through the lanes' own addresses.
  __m512i addr_lo = _mm512_loadu_si512(data);
  __m512i addr_hi = _mm512_loadu_si512(data + 8);

  __m512i h[8];
  for (int i = 0; i < 8; ++i) h[i] = _mm512_loadu_si512(state[i]);

  for (size_t b = 0; b < nblocks; ++b) {
    __m512i w[16];
#pragma GCC unroll 16
    for (int t = 0; t < 16; ++t) {
      const __m256i lo = _mm512_i64gather_epi32(addr_lo, nullptr, 1);
      const __m256i hi = _mm512_i64gather_epi32(addr_hi, nullptr, 1);
      w[t] = _mm512_shuffle_epi8(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), bswap);
      addr_lo = _mm512_add_epi64(addr_lo, _mm512_set1_epi64(4));
      addr_hi = _mm512_add_epi64(addr_hi, _mm512_set1_epi64(4));
    }
    __m512i a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
#pragma GCC unroll 64
    for (int t = 0; t < 64; ++t) {
      __m512i wt;
      if (t < 16) {
        wt = w[t];
      } else {
        wt = _mm512_add_epi32(
            _mm512_add_epi32(small_sigma1_x16(w[(t - 2) & 15]), w[(t - 7) & 15]),
            _mm512_add_epi32(small_sigma0_x16(w[(t - 15) & 15]), w[t & 15]));
        w[t & 15] = wt;
      }
      const __m512i t1 = _mm512_add_epi32(
          _mm512_add_epi32(hh, big_sigma1_x16(e)),
          _mm512_add_epi32(_mm512_add_epi32(ch_x16(e, f, g), _mm512_set1_epi32(static_cast<int>(kRoundConstants[t]))), wt));
      const __m512i t2 = _mm512_add_epi32(big_sigma0_x16(a), maj_x16(a, bb, c));
      hh = g; g = f; f = e; e = _mm512_add_epi32(d, t1);
      d = c; c = bb; bb = a; a = _mm512_add_epi32(t1, t2);
    }
    h[0] = _mm512_add_epi32(h[0], a); h[1] = _mm512_add_epi32(h[1], bb);
    h[2] = _mm512_add_epi32(h[2], c); h[3] = _mm512_add_epi32(h[3], d);
    h[4] = _mm512_add_epi32(h[4], e); h[5] = _mm512_add_epi32(h[5], f);
    h[6] = _mm512_add_epi32(h[6], g); h[7] = _mm512_add_epi32(h[7], hh);
  }
  for (int i = 0; i < 8; ++i) _mm512_storeu_si512(state[i], h[i]);
}

}  // namespace pipeward::sha256
