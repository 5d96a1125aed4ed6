// SHA-256 with the x86 SHA extensions (SHA256RNDS2 / SHA256MSG1 / SHA256MSG2).
// Built with -msha -msse4.1 -mssse3; called only when cpu_features() reports SHA-NI.
//
// SHA256RNDS2 works on the state split as ABEF and CDGH (A in the high lane), performs two
// rounds per call, and takes W[t]+K[t] for those rounds in the low 64 bits of its third operand.
#include <immintrin.h>

#include "pipeward/sha256.hpp"

namespace pipeward::sha256 {

void blocks_shani(uint32_t h[8], const uint8_t* data, size_t nblocks) {
  // Message words are big-endian: byte-swap each 32-bit lane on load.
  const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);

  // Register contents are written high lane first: h[0..3] loads as DCBA, h[4..7] as HGFE.
  __m128i dcba = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h));
  __m128i hgfe = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h + 4));
  const __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
  const __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
  __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
  __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);

  for (size_t b = 0; b < nblocks; ++b, data += kBlockSize) {
    const __m128i abef_in = abef;
    const __m128i cdgh_in = cdgh;
    // w[j] holds the message group X_i = W[4i..4i+3] for the latest four i (i mod 4 == j).
    __m128i w[4];
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) {
      __m128i x;
      if (i < 4) {
        x = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(data + 16 * i)), bswap);
      } else {
        // FIPS 180-4 (6.2.2 step 1) four words at a time:
        // W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16].
        // msg1 gives W[t-16] + σ0(W[t-15]); alignr supplies W[t-7]; msg2 adds σ1(W[t-2]).
        const __m128i x4 = w[i & 3], x3 = w[(i + 1) & 3], x2 = w[(i + 2) & 3], x1 = w[(i + 3) & 3];
        x = _mm_sha256msg1_epu32(x4, x3);
        x = _mm_add_epi32(x, _mm_alignr_epi8(x1, x2, 4));
        x = _mm_sha256msg2_epu32(x, x1);
      }
      w[i & 3] = x;
      __m128i wk = _mm_add_epi32(
          x, _mm_loadu_si128(reinterpret_cast<const __m128i*>(kRoundConstants + 4 * i)));
      // Two rounds turn ABEF into the next CDGH, so the registers trade roles each call and
      // are back in place after the pair.
      cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);   // rounds 4i, 4i+1
      wk = _mm_shuffle_epi32(wk, 0x0E);               // W+K of rounds 4i+2, 4i+3 to the low half
      abef = _mm_sha256rnds2_epu32(abef, cdgh, wk);   // rounds 4i+2, 4i+3
    }
    abef = _mm_add_epi32(abef, abef_in);
    cdgh = _mm_add_epi32(cdgh, cdgh_in);
  }

  // Back to DCBA / HGFE, i.e. h[0..7] in order.
  const __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
  const __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
  dcba = _mm_blend_epi16(feba, dchg, 0xF0);
  hgfe = _mm_alignr_epi8(dchg, feba, 8);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(h), dcba);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(h + 4), hgfe);
}

}  // namespace pipeward::sha256
