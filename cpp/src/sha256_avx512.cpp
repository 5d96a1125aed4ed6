// SHA-256 of 16 independent messages at once with AVX-512 (multi-buffer): lane j of every
// vector belongs to message j, so each instruction does one step of FIPS 180-4 §6.2.2 for 16
// messages. Built with -mavx512f/bw/dq/vl; called only when cpu_features() reports AVX-512.
// Pays off when many files are hashed at once; one message at a time is SHA-NI's job.
// GCC 12 flags the deliberately undefined pass-through operand inside its own AVX-512
// intrinsics (_mm512_undefined_epi32) as maybe-uninitialized: a false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
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

// Message words of one block from each of 16 streams, transposed so that w[t] holds word t of
// every stream: a 16x16 transpose of 32-bit words in four shuffle stages. (Gathers would read
// the words directly but are several times slower on recent Xeons.)
inline void load_transposed(const uint8_t* const rows[16], __m512i w[16]) {
  const __m512i bswap = _mm512_set4_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203);
  __m512i r[16], t[16];
  for (int j = 0; j < 16; ++j) r[j] = _mm512_loadu_si512(rows[j]);
  // 1. Interleave words of row pairs: t[2i], t[2i+1] hold rows 2i, 2i+1.
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  // 2. Interleave 64-bit pairs: r[4i+c], 128-bit lane L = word 4L+c of rows 4i..4i+3.
  for (int i = 0; i < 4; ++i) {
    r[4 * i + 0] = _mm512_unpacklo_epi64(t[4 * i + 0], t[4 * i + 2]);
    r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i + 0], t[4 * i + 2]);
    r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  // 3-4. Transpose the 4x4 grid of 128-bit lanes of r[c], r[4+c], r[8+c], r[12+c]:
  // word 4L+c of all 16 rows.
  for (int c = 0; c < 4; ++c) {
    const __m512i b0 = _mm512_shuffle_i32x4(r[c], r[4 + c], 0x44);
    const __m512i b1 = _mm512_shuffle_i32x4(r[c], r[4 + c], 0xEE);
    const __m512i b2 = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0x44);
    const __m512i b3 = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0xEE);
    w[c] = _mm512_shuffle_epi8(_mm512_shuffle_i32x4(b0, b2, 0x88), bswap);
    w[4 + c] = _mm512_shuffle_epi8(_mm512_shuffle_i32x4(b0, b2, 0xDD), bswap);
    w[8 + c] = _mm512_shuffle_epi8(_mm512_shuffle_i32x4(b1, b3, 0x88), bswap);
    w[12 + c] = _mm512_shuffle_epi8(_mm512_shuffle_i32x4(b1, b3, 0xDD), bswap);
  }
}

}  // namespace

void blocks_x16_avx512(uint32_t state[8][16], const uint8_t* const data[16], size_t nblocks) {
  __m512i h[8];
  for (int i = 0; i < 8; ++i) h[i] = _mm512_loadu_si512(state[i]);
  const uint8_t* rows[16];
  for (int j = 0; j < 16; ++j) rows[j] = data[j];

  for (size_t b = 0; b < nblocks; ++b) {
    __m512i w[16];
    load_transposed(rows, w);
    for (int j = 0; j < 16; ++j) rows[j] += kBlockSize;
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
