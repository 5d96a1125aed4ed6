// Philox4x32-10 and ChaCha20 normals written by hand for AVX2 (machines without AVX-512, e.g.
// AMD EPYC cloud VMs): the AVX-512 file's method (privacy_noise_avx512.cpp) on 256-bit
// vectors. Every value is the same IEEE single-precision operation in the same order as the
// portable header functions (pipeward/privacy.hpp), so the output is bit-identical to them
// (tests check every variant on many seeds, offsets and tails).
//
// AVX2 lacks three AVX-512 instructions the other file uses; their stand-ins here are exact:
// an unsigned 32-bit to float conversion as hi16 * 65536 + lo16 (both parts and the product
// are exact, so the one addition rounds as the conversion does), a rotate as two shifts (or a
// byte shuffle for 8 and 16), and ternary logic as two XORs.
//
// fp-contract is off for this file: a fused multiply-add rounds once where the reference rounds
// twice, which would change the last bit of some normals.
#pragma GCC optimize("fp-contract=off")

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "pipeward/privacy.hpp"
#include "privacy_noise_common.hpp"
#include "privacy_noise_avx2.hpp"

namespace pipeward::privacy::avx2 {
namespace {

// The ten round keys of Philox4x32-10, broadcast once per call (read from memory by the XORs).
struct RoundKeys {
  __m256i k0[10], k1[10];
};

inline RoundKeys round_keys(uint64_t seed) {
  RoundKeys rk;
  auto k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    rk.k0[round] = _mm256_set1_epi32(static_cast<int>(k0));
    rk.k1[round] = _mm256_set1_epi32(static_cast<int>(k1));
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return rk;
}

// Philox4x32-10 on N sets of four counters held in the low halves of 64-bit lanes (lane b of
// c[k][0..3] is one block): _mm256_mul_epu32 reads only the low halves and returns the whole
// 64-bit product, whose low half is the next word as it stands. N sets in flight hide the
// multiply latency.
template <int N>
inline void philox4(__m256i (&c)[N][4], const RoundKeys& rk) {
  const __m256i m0 = _mm256_set1_epi64x(0xD2511F53);
  const __m256i m1 = _mm256_set1_epi64x(0xCD9E8D57);
  for (int round = 0; round < 10; ++round) {
    for (int k = 0; k < N; ++k) {
      const __m256i p0 = _mm256_mul_epu32(c[k][0], m0);
      const __m256i p1 = _mm256_mul_epu32(c[k][2], m1);
      c[k][0] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), c[k][1]),
                                 rk.k0[round]);
      c[k][1] = p1;
      c[k][2] = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), c[k][3]),
                                 rk.k1[round]);
      c[k][3] = p0;
    }
  }
}

// The low halves of a's and b's 64-bit lanes as eight 32-bit lanes, in the order
// a0 a1 b0 b1 | a2 a3 b2 b3 (no lane-crossing permute: store_interleaved4 undoes the order).
inline __m256i pack_low_halves(__m256i a, __m256i b) {
  return _mm256_castps_si256(_mm256_shuffle_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b),
                                               _MM_SHUFFLE(2, 0, 2, 0)));
}

inline __m256 mul(__m256 a, __m256 b) { return _mm256_mul_ps(a, b); }
inline __m256 add(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
inline __m256 splat(float x) { return _mm256_set1_ps(x); }

// float(x) for unsigned x, correctly rounded (see the file comment).
inline __m256 u32_to_float(__m256i x) {
  const __m256 hi = _mm256_cvtepi32_ps(_mm256_srli_epi32(x, 16));
  const __m256 lo = _mm256_cvtepi32_ps(_mm256_and_si256(x, _mm256_set1_epi32(0xffff)));
  // hi * 65536 is exact, so a fused multiply-add rounds exactly as the separate add would.
  return _mm256_fmadd_ps(hi, splat(65536.0f), lo);
}

// minus_two_log_uniform (pipeward/privacy.hpp), eight lanes.
inline __m256 minus_two_log_uniform8(__m256i x) {
  const __m256 u = add(mul(u32_to_float(x), splat(2.3283064365386963e-10f)),
                       splat(1.1641532182693481e-10f));
  const __m256i bits = _mm256_sub_epi32(_mm256_castps_si256(u), _mm256_set1_epi32(0x3f3504f3));
  const __m256 e = _mm256_cvtepi32_ps(_mm256_srai_epi32(bits, 23));
  const __m256 m = _mm256_castsi256_ps(_mm256_add_epi32(
      _mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x3f3504f3)));
  const __m256 s = _mm256_div_ps(_mm256_sub_ps(m, splat(1.0f)), add(m, splat(1.0f)));
  const __m256 s2 = mul(s, s);
  __m256 t = add(splat(0.2857142857f), mul(s2, splat(0.2222222222f)));
  t = add(splat(0.4f), mul(s2, t));
  t = add(splat(0.6666666666f), mul(s2, t));
  t = add(splat(2.0f), mul(s2, t));
  const __m256 ln_u = add(mul(e, splat(0.6931471805599453f)), mul(s, t));
  return mul(splat(-2.0f), ln_u);
}

// box_muller (pipeward/privacy.hpp), eight pairs: z0 = r cos, z1 = r sin.
inline void box_muller8(__m256i x_radius, __m256i x_angle, __m256& z0, __m256& z1) {
  const __m256 r = _mm256_sqrt_ps(minus_two_log_uniform8(x_radius));
  const __m256 f = mul(_mm256_cvtepi32_ps(_mm256_and_si256(x_angle, _mm256_set1_epi32(0x3fffffff))),
                       splat(9.313225746154785e-10f));
  const __m256 phi = add(mul(_mm256_sub_ps(f, splat(0.5f)), splat(1.5707963267948966f)),
                         splat(7.3145904e-10f));
  const __m256 p2 = mul(phi, phi);
  __m256 sn = add(splat(-1.98412698e-4f), mul(p2, splat(2.75573192e-6f)));
  sn = add(splat(0.00833333333f), mul(p2, sn));
  sn = add(splat(-0.16666666666f), mul(p2, sn));
  sn = mul(phi, add(splat(1.0f), mul(p2, sn)));
  __m256 cs = add(splat(-0.00138888889f), mul(p2, splat(2.48015873e-5f)));
  cs = add(splat(0.0416666666f), mul(p2, cs));
  cs = add(splat(-0.5f), mul(p2, cs));
  cs = add(splat(1.0f), mul(p2, cs));
  // The quadrant is x_angle's top two bits. Odd quadrants (bit 30) swap sin and cos; cos is
  // negative in quadrants 1 and 2 (bit 31 ^ bit 30), sin in 2 and 3 (bit 31). Computed on the
  // bits in place: blendv reads only the sign bit, so x_angle << 1 is the swap mask.
  const __m256i top = _mm256_set1_epi32(static_cast<int>(0x80000000u));
  const __m256i shifted = _mm256_slli_epi32(x_angle, 1);
  const __m256 swap = _mm256_castsi256_ps(shifted);
  const __m256i c_sign = _mm256_and_si256(_mm256_xor_si256(x_angle, shifted), top);
  const __m256i s_sign = _mm256_and_si256(x_angle, top);
  const __m256i c_bits =
      _mm256_xor_si256(_mm256_castps_si256(_mm256_blendv_ps(cs, sn, swap)), c_sign);
  const __m256i s_bits =
      _mm256_xor_si256(_mm256_castps_si256(_mm256_blendv_ps(sn, cs, swap)), s_sign);
  z0 = mul(r, _mm256_castsi256_ps(c_bits));
  z1 = mul(r, _mm256_castsi256_ps(s_bits));
}

// a, b, c, d hold word 0..3 of eight blocks in pack_low_halves' lane order (blocks
// 0 1 4 5 | 2 3 6 7); block k's four words go to out[4k .. 4k + 3]: a register transpose.
inline void store_interleaved4(float* out, __m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 ab_lo = _mm256_unpacklo_ps(a, b), ab_hi = _mm256_unpackhi_ps(a, b);
  const __m256 cd_lo = _mm256_unpacklo_ps(c, d), cd_hi = _mm256_unpackhi_ps(c, d);
  // q0 = blocks 0 | 2, q1 = 1 | 3, q2 = 4 | 6, q3 = 5 | 7 (128-bit halves).
  const __m256 q0 = _mm256_shuffle_ps(ab_lo, cd_lo, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 q1 = _mm256_shuffle_ps(ab_lo, cd_lo, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 q2 = _mm256_shuffle_ps(ab_hi, cd_hi, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 q3 = _mm256_shuffle_ps(ab_hi, cd_hi, _MM_SHUFFLE(3, 2, 3, 2));
  _mm256_storeu_ps(out, _mm256_permute2f128_ps(q0, q1, 0x20));
  _mm256_storeu_ps(out + 8, _mm256_permute2f128_ps(q0, q1, 0x31));
  _mm256_storeu_ps(out + 16, _mm256_permute2f128_ps(q2, q3, 0x20));
  _mm256_storeu_ps(out + 24, _mm256_permute2f128_ps(q2, q3, 0x31));
}

// The 32 G normals of Philox blocks first_block .. first_block + 8 G - 1.
template <int G>
inline void philox_normals32(const RoundKeys& rk, uint32_t stream, uint64_t first_block,
                             float* out) {
  // Sets of four blocks, 64-bit counters (the low word, then the high).
  const __m256i base = _mm256_add_epi64(_mm256_set1_epi64x(static_cast<long long>(first_block)),
                                        _mm256_setr_epi64x(0, 1, 2, 3));
  __m256i c[2 * G][4];
  for (int k = 0; k < 2 * G; ++k) {
    const __m256i v = _mm256_add_epi64(base, _mm256_set1_epi64x(4 * k));
    c[k][0] = v;
    c[k][1] = _mm256_srli_epi64(v, 32);
    c[k][2] = _mm256_set1_epi64x(stream);
    c[k][3] = _mm256_setzero_si256();
  }
  philox4<2 * G>(c, rk);
  for (int g = 0; g < G; ++g) {
    const __m256i* a = c[2 * g];
    const __m256i* b = c[2 * g + 1];
    __m256 z0, z1, z2, z3;
    box_muller8(pack_low_halves(a[0], b[0]), pack_low_halves(a[1], b[1]), z0, z1);
    box_muller8(pack_low_halves(a[2], b[2]), pack_low_halves(a[3], b[3]), z2, z3);
    store_interleaved4(out + 32 * g, z0, z1, z2, z3);
  }
}

// ---- ChaCha20 (secure=True) -----------------------------------------------------------------

template <int N>
inline __m256i rol(__m256i x) {
  if constexpr (N == 16) {
    const __m256i r16 = _mm256_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13,
                                         2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
    return _mm256_shuffle_epi8(x, r16);
  } else if constexpr (N == 8) {
    const __m256i r8 = _mm256_setr_epi8(3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14,
                                        3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14);
    return _mm256_shuffle_epi8(x, r8);
  } else {
    return _mm256_or_si256(_mm256_slli_epi32(x, N), _mm256_srli_epi32(x, 32 - N));
  }
}

inline void quarter(__m256i& a, __m256i& b, __m256i& c, __m256i& d) {
  a = _mm256_add_epi32(a, b); d = rol<16>(_mm256_xor_si256(d, a));
  c = _mm256_add_epi32(c, d); b = rol<12>(_mm256_xor_si256(b, c));
  a = _mm256_add_epi32(a, b); d = rol<8>(_mm256_xor_si256(d, a));
  c = _mm256_add_epi32(c, d); b = rol<7>(_mm256_xor_si256(b, c));
}

// Row b (16 floats at out + 16 b) gets lane b of v[0..7] in columns 0..7: an 8 x 8 transpose.
inline void store_transposed8(float* out, const __m256* v) {
  __m256 t[8], u[8];
  for (int k = 0; k < 4; ++k) {
    t[2 * k] = _mm256_unpacklo_ps(v[2 * k], v[2 * k + 1]);
    t[2 * k + 1] = _mm256_unpackhi_ps(v[2 * k], v[2 * k + 1]);
  }
  for (int m = 0; m < 2; ++m) {
    u[4 * m] = _mm256_shuffle_ps(t[4 * m], t[4 * m + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * m + 1] = _mm256_shuffle_ps(t[4 * m], t[4 * m + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * m + 2] = _mm256_shuffle_ps(t[4 * m + 1], t[4 * m + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * m + 3] = _mm256_shuffle_ps(t[4 * m + 1], t[4 * m + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  // 128-bit half h of u[r] holds row 4h + r, columns 0..3; of u[4 + r], columns 4..7.
  for (int r = 0; r < 4; ++r) {
    _mm256_storeu_ps(out + 16 * r, _mm256_permute2f128_ps(u[r], u[4 + r], 0x20));
    _mm256_storeu_ps(out + 16 * (4 + r), _mm256_permute2f128_ps(u[r], u[4 + r], 0x31));
  }
}

// The 128 normals of ChaCha20 blocks first_block .. first_block + 7 (32-bit counter, as the
// RFC and chacha_normals wrap it).
inline void chacha_normals128(const uint32_t* key, const uint32_t* nonce, uint32_t first_block,
                              float* out) {
  __m256i s[16];
  s[0] = _mm256_set1_epi32(0x61707865);
  s[1] = _mm256_set1_epi32(0x3320646e);
  s[2] = _mm256_set1_epi32(0x79622d32);
  s[3] = _mm256_set1_epi32(0x6b206574);
  for (int i = 0; i < 8; ++i) s[4 + i] = _mm256_set1_epi32(static_cast<int>(key[i]));
  s[12] = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(first_block)),
                           _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  for (int i = 0; i < 3; ++i) s[13 + i] = _mm256_set1_epi32(static_cast<int>(nonce[i]));
  __m256i x[16];
  for (int i = 0; i < 16; ++i) x[i] = s[i];
  chacha20_rounds(x, quarter);
  __m256 z[16];
  for (int i = 0; i < 16; i += 2) {
    box_muller8(_mm256_add_epi32(x[i], s[i]), _mm256_add_epi32(x[i + 1], s[i + 1]), z[i],
                z[i + 1]);
  }
  store_transposed8(out, z);
  store_transposed8(out + 8, z + 8);
}

// Groups of 8 blocks per step; kGroups of them in flight hide the multiply latency.
constexpr int kGroups = 2;

}  // namespace

void philox_normals_avx2(uint64_t seed, uint32_t stream, uint64_t first, std::size_t n,
                         float* out) {
  const RoundKeys rk = round_keys(seed);
  uint64_t block = first / 4;
  std::size_t skip = static_cast<std::size_t>(first % 4);
  while (n > 0) {
    if (skip == 0 && n >= 32 * kGroups) {
      philox_normals32<kGroups>(rk, stream, block, out);
      out += 32 * kGroups;
      n -= 32 * kGroups;
      block += 8 * kGroups;
      continue;
    }
    emit_group<32>([&](float* to) { philox_normals32<1>(rk, stream, block, to); }, &skip, &n,
                   &out);
    block += 8;
  }
}

void chacha_normals_avx2(const uint32_t* key, const uint32_t* nonce, uint64_t first,
                         std::size_t n, float* out) {
  auto block = static_cast<uint32_t>(first / 16);
  std::size_t skip = static_cast<std::size_t>(first % 16);
  while (n > 0) {
    emit_group<128>([&](float* to) { chacha_normals128(key, nonce, block, to); }, &skip, &n,
                    &out);
    block += 8;
  }
}

}  // namespace pipeward::privacy::avx2
