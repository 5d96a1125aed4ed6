// Philox4x32-10 and ChaCha20 normals written by hand for AVX-512: generator blocks side by side
// in the vector lanes. The portable header functions (pipeward/privacy.hpp) stay the
// reference: every value here is the same IEEE single-precision operation in the same order, so
// the output is bit-identical to them (tests check it on many seeds, offsets and tails).
//
// Why by hand: GCC vectorises Philox's 32x32->64 products with vpmullq (slow, 3 uops);
// _mm512_mul_epu32 gives eight 64-bit products of 32-bit lanes in one cheap multiply. The
// outputs leave as whole 64-byte rows through register transposes instead of a scalar gather.
//
// fp-contract is off for this file: a fused multiply-add rounds once where the reference rounds
// twice, which would change the last bit of some normals.
#pragma GCC optimize("fp-contract=off")

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "pipeward/privacy.hpp"
#include "privacy_noise_common.hpp"
#include "privacy_noise_avx512.hpp"

namespace pipeward::privacy::avx512 {
namespace {

// The ten round keys of Philox4x32-10, broadcast once per call.
struct RoundKeys {
  __m512i k0[10], k1[10];
};

inline RoundKeys round_keys(uint64_t seed) {
  RoundKeys rk;
  auto k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    rk.k0[round] = _mm512_set1_epi32(static_cast<int>(k0));
    rk.k1[round] = _mm512_set1_epi32(static_cast<int>(k1));
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return rk;
}

// Philox4x32-10 on N sets of eight counters held in the low halves of 64-bit lanes (lane b of
// c[k][0..3] is one block; the high halves are don't-cares): _mm512_mul_epu32 reads only the
// low halves and returns the whole 64-bit product, so a round is two multiplies, two shifts
// and two XORs. The N sets go through each round together: independent chains hide the
// multiply latency.
template <int N>
inline void philox8(__m512i (&c)[N][4], const RoundKeys& rk) {
  const __m512i m0 = _mm512_set1_epi64(0xD2511F53);
  const __m512i m1 = _mm512_set1_epi64(0xCD9E8D57);
  for (int round = 0; round < 10; ++round) {
    for (int k = 0; k < N; ++k) {
      const __m512i p0 = _mm512_mul_epu32(c[k][0], m0);
      const __m512i p1 = _mm512_mul_epu32(c[k][2], m1);
      // 0x96: a ^ b ^ c in one instruction.
      c[k][0] = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p1, 32), c[k][1], rk.k0[round], 0x96);
      c[k][1] = p1;
      c[k][2] = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p0, 32), c[k][3], rk.k1[round], 0x96);
      c[k][3] = p0;
    }
  }
}

// The low halves of a's and b's 64-bit lanes as sixteen 32-bit lanes (a first).
inline __m512i pack_low_halves(__m512i a, __m512i b) {
  const __m512i idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  return _mm512_permutex2var_epi32(a, idx, b);
}

inline __m512 mul(__m512 a, __m512 b) { return _mm512_mul_ps(a, b); }
inline __m512 add(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }
inline __m512 splat(float x) { return _mm512_set1_ps(x); }

// minus_two_log_uniform (pipeward/privacy.hpp), sixteen lanes.
inline __m512 minus_two_log_uniform16(__m512i x) {
  const __m512 u = add(mul(_mm512_cvtepu32_ps(x), splat(2.3283064365386963e-10f)),
                       splat(1.1641532182693481e-10f));
  const __m512i bits = _mm512_sub_epi32(_mm512_castps_si512(u), _mm512_set1_epi32(0x3f3504f3));
  const __m512 e = _mm512_cvtepi32_ps(_mm512_srai_epi32(bits, 23));
  const __m512 m = _mm512_castsi512_ps(_mm512_add_epi32(
      _mm512_and_si512(bits, _mm512_set1_epi32(0x007fffff)), _mm512_set1_epi32(0x3f3504f3)));
  const __m512 s = _mm512_div_ps(_mm512_sub_ps(m, splat(1.0f)), add(m, splat(1.0f)));
  const __m512 s2 = mul(s, s);
  __m512 t = add(splat(0.2857142857f), mul(s2, splat(0.2222222222f)));
  t = add(splat(0.4f), mul(s2, t));
  t = add(splat(0.6666666666f), mul(s2, t));
  t = add(splat(2.0f), mul(s2, t));
  const __m512 ln_u = add(mul(e, splat(0.6931471805599453f)), mul(s, t));
  return mul(splat(-2.0f), ln_u);
}

// box_muller (pipeward/privacy.hpp), sixteen pairs: z0 = r cos, z1 = r sin.
inline void box_muller16(__m512i x_radius, __m512i x_angle, __m512& z0, __m512& z1) {
  const __m512 r = _mm512_sqrt_ps(minus_two_log_uniform16(x_radius));
  const __m512i quadrant = _mm512_srli_epi32(x_angle, 30);
  const __m512 f = mul(_mm512_cvtepi32_ps(_mm512_and_si512(x_angle, _mm512_set1_epi32(0x3fffffff))),
                       splat(9.313225746154785e-10f));
  const __m512 phi = add(mul(_mm512_sub_ps(f, splat(0.5f)), splat(1.5707963267948966f)),
                         splat(7.3145904e-10f));
  const __m512 p2 = mul(phi, phi);
  __m512 sn = add(splat(-1.98412698e-4f), mul(p2, splat(2.75573192e-6f)));
  sn = add(splat(0.00833333333f), mul(p2, sn));
  sn = add(splat(-0.16666666666f), mul(p2, sn));
  sn = mul(phi, add(splat(1.0f), mul(p2, sn)));
  __m512 cs = add(splat(-0.00138888889f), mul(p2, splat(2.48015873e-5f)));
  cs = add(splat(0.0416666666f), mul(p2, cs));
  cs = add(splat(-0.5f), mul(p2, cs));
  cs = add(splat(1.0f), mul(p2, cs));
  // Odd quadrants swap sin and cos; cos is negative in quadrants 1 and 2, sin in 2 and 3.
  const __mmask16 swap = _mm512_test_epi32_mask(quadrant, _mm512_set1_epi32(1));
  const __m512i cb = _mm512_castps_si512(cs), sb = _mm512_castps_si512(sn);
  const __m512i c_sign = _mm512_slli_epi32(
      _mm512_and_si512(_mm512_xor_si512(quadrant, _mm512_srli_epi32(quadrant, 1)),
                       _mm512_set1_epi32(1)), 31);
  const __m512i s_sign = _mm512_slli_epi32(_mm512_srli_epi32(quadrant, 1), 31);
  const __m512i c_bits = _mm512_xor_si512(_mm512_mask_blend_epi32(swap, cb, sb), c_sign);
  const __m512i s_bits = _mm512_xor_si512(_mm512_mask_blend_epi32(swap, sb, cb), s_sign);
  z0 = mul(r, _mm512_castsi512_ps(c_bits));
  z1 = mul(r, _mm512_castsi512_ps(s_bits));
}

// Lane b of a, b, c, d is element 4b + 0..3 of the output: 4 x 16 -> 16 x 4 in registers.
inline void store_interleaved4(float* out, __m512 a, __m512 b, __m512 c, __m512 d) {
  const __m512 ab_lo = _mm512_unpacklo_ps(a, b), ab_hi = _mm512_unpackhi_ps(a, b);
  const __m512 cd_lo = _mm512_unpacklo_ps(c, d), cd_hi = _mm512_unpackhi_ps(c, d);
  // 128-bit lane l of q_k now holds block 4l + k.
  const __m512 q0 = _mm512_shuffle_ps(ab_lo, cd_lo, _MM_SHUFFLE(1, 0, 1, 0));
  const __m512 q1 = _mm512_shuffle_ps(ab_lo, cd_lo, _MM_SHUFFLE(3, 2, 3, 2));
  const __m512 q2 = _mm512_shuffle_ps(ab_hi, cd_hi, _MM_SHUFFLE(1, 0, 1, 0));
  const __m512 q3 = _mm512_shuffle_ps(ab_hi, cd_hi, _MM_SHUFFLE(3, 2, 3, 2));
  const __m512 p01_lo = _mm512_shuffle_f32x4(q0, q1, _MM_SHUFFLE(1, 0, 1, 0));
  const __m512 p23_lo = _mm512_shuffle_f32x4(q2, q3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m512 p01_hi = _mm512_shuffle_f32x4(q0, q1, _MM_SHUFFLE(3, 2, 3, 2));
  const __m512 p23_hi = _mm512_shuffle_f32x4(q2, q3, _MM_SHUFFLE(3, 2, 3, 2));
  _mm512_storeu_ps(out, _mm512_shuffle_f32x4(p01_lo, p23_lo, _MM_SHUFFLE(2, 0, 2, 0)));
  _mm512_storeu_ps(out + 16, _mm512_shuffle_f32x4(p01_lo, p23_lo, _MM_SHUFFLE(3, 1, 3, 1)));
  _mm512_storeu_ps(out + 32, _mm512_shuffle_f32x4(p01_hi, p23_hi, _MM_SHUFFLE(2, 0, 2, 0)));
  _mm512_storeu_ps(out + 48, _mm512_shuffle_f32x4(p01_hi, p23_hi, _MM_SHUFFLE(3, 1, 3, 1)));
}

// The 64 G normals of Philox blocks first_block .. first_block + 16 G - 1.
template <int G>
inline void philox_normals64(const RoundKeys& rk, uint32_t stream, uint64_t first_block,
                             float* out) {
  // Sets of eight blocks, 64-bit counters (the low word, then the high).
  const __m512i lane = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
  const __m512i base =
      _mm512_add_epi64(_mm512_set1_epi64(static_cast<long long>(first_block)), lane);
  __m512i c[2 * G][4];
  for (int k = 0; k < 2 * G; ++k) {
    const __m512i v = _mm512_add_epi64(base, _mm512_set1_epi64(8 * k));
    c[k][0] = v;
    c[k][1] = _mm512_srli_epi64(v, 32);
    c[k][2] = _mm512_set1_epi64(stream);
    c[k][3] = _mm512_setzero_si512();
  }
  philox8<2 * G>(c, rk);
  for (int g = 0; g < G; ++g) {
    const __m512i* a = c[2 * g];
    const __m512i* b = c[2 * g + 1];
    __m512 z0, z1, z2, z3;
    box_muller16(pack_low_halves(a[0], b[0]), pack_low_halves(a[1], b[1]), z0, z1);
    box_muller16(pack_low_halves(a[2], b[2]), pack_low_halves(a[3], b[3]), z2, z3);
    store_interleaved4(out + 64 * g, z0, z1, z2, z3);
  }
}

// ---- ChaCha20 (secure=True) -----------------------------------------------------------------

inline void quarter(__m512i& a, __m512i& b, __m512i& c, __m512i& d) {
  a = _mm512_add_epi32(a, b); d = _mm512_rol_epi32(_mm512_xor_si512(d, a), 16);
  c = _mm512_add_epi32(c, d); b = _mm512_rol_epi32(_mm512_xor_si512(b, c), 12);
  a = _mm512_add_epi32(a, b); d = _mm512_rol_epi32(_mm512_xor_si512(d, a), 8);
  c = _mm512_add_epi32(c, d); b = _mm512_rol_epi32(_mm512_xor_si512(b, c), 7);
}

// Row b of the output gets lane b of v[0..15]: a 16 x 16 transpose in registers, 16 rows of 16.
inline void store_transposed16(float* out, const __m512 (&v)[16]) {
  __m512i t[16], u[16];
  for (int k = 0; k < 8; ++k) {
    const __m512i a = _mm512_castps_si512(v[2 * k]), b = _mm512_castps_si512(v[2 * k + 1]);
    t[2 * k] = _mm512_unpacklo_epi32(a, b);
    t[2 * k + 1] = _mm512_unpackhi_epi32(a, b);
  }
  // 128-bit lane L of u[4m + r] holds row 4L + r, columns 4m .. 4m + 3.
  for (int m = 0; m < 4; ++m) {
    u[4 * m] = _mm512_unpacklo_epi64(t[4 * m], t[4 * m + 2]);
    u[4 * m + 1] = _mm512_unpackhi_epi64(t[4 * m], t[4 * m + 2]);
    u[4 * m + 2] = _mm512_unpacklo_epi64(t[4 * m + 1], t[4 * m + 3]);
    u[4 * m + 3] = _mm512_unpackhi_epi64(t[4 * m + 1], t[4 * m + 3]);
  }
  for (int r = 0; r < 4; ++r) {
    const __m512i p = _mm512_shuffle_i32x4(u[r], u[4 + r], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512i q = _mm512_shuffle_i32x4(u[8 + r], u[12 + r], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512i h = _mm512_shuffle_i32x4(u[r], u[4 + r], _MM_SHUFFLE(3, 2, 3, 2));
    const __m512i w = _mm512_shuffle_i32x4(u[8 + r], u[12 + r], _MM_SHUFFLE(3, 2, 3, 2));
    float* o = out + 16 * r;
    _mm512_storeu_si512(o, _mm512_shuffle_i32x4(p, q, _MM_SHUFFLE(2, 0, 2, 0)));
    _mm512_storeu_si512(o + 64, _mm512_shuffle_i32x4(p, q, _MM_SHUFFLE(3, 1, 3, 1)));
    _mm512_storeu_si512(o + 128, _mm512_shuffle_i32x4(h, w, _MM_SHUFFLE(2, 0, 2, 0)));
    _mm512_storeu_si512(o + 192, _mm512_shuffle_i32x4(h, w, _MM_SHUFFLE(3, 1, 3, 1)));
  }
}

// The 256 normals of ChaCha20 blocks first_block .. first_block + 15 (32-bit counter, as the
// RFC and chacha_normals wrap it).
inline void chacha_normals256(const uint32_t* key, const uint32_t* nonce, uint32_t first_block,
                              float* out) {
  __m512i s[16];
  s[0] = _mm512_set1_epi32(0x61707865);
  s[1] = _mm512_set1_epi32(0x3320646e);
  s[2] = _mm512_set1_epi32(0x79622d32);
  s[3] = _mm512_set1_epi32(0x6b206574);
  for (int i = 0; i < 8; ++i) s[4 + i] = _mm512_set1_epi32(static_cast<int>(key[i]));
  s[12] = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(first_block)),
                           _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  for (int i = 0; i < 3; ++i) s[13 + i] = _mm512_set1_epi32(static_cast<int>(nonce[i]));
  __m512i x[16];
  for (int i = 0; i < 16; ++i) x[i] = s[i];
  chacha20_rounds(x, quarter);
  __m512 z[16];
  for (int i = 0; i < 16; i += 2) {
    box_muller16(_mm512_add_epi32(x[i], s[i]), _mm512_add_epi32(x[i + 1], s[i + 1]), z[i],
                 z[i + 1]);
  }
  store_transposed16(out, z);
}

}  // namespace

// Groups of 16 blocks per step: two (four Philox chains in flight) take 25% off a step's
// time; three are no faster, four spill registers.
constexpr int kGroups = 2;

void philox_normals_avx512(uint64_t seed, uint32_t stream, uint64_t first, std::size_t n,
                           float* out) {
  const RoundKeys rk = round_keys(seed);
  uint64_t block = first / 4;
  std::size_t skip = static_cast<std::size_t>(first % 4);
  while (n > 0) {
    if (skip == 0 && n >= 64 * kGroups) {
      philox_normals64<kGroups>(rk, stream, block, out);
      out += 64 * kGroups;
      n -= 64 * kGroups;
      block += 16 * kGroups;
      continue;
    }
    emit_group<64>([&](float* to) { philox_normals64<1>(rk, stream, block, to); }, &skip, &n,
                   &out);
    block += 16;
  }
}

void chacha_normals_avx512(const uint32_t* key, const uint32_t* nonce, uint64_t first,
                           std::size_t n, float* out) {
  auto block = static_cast<uint32_t>(first / 16);
  std::size_t skip = static_cast<std::size_t>(first % 16);
  while (n > 0) {
    emit_group<256>([&](float* to) { chacha_normals256(key, nonce, block, to); }, &skip, &n,
                    &out);
    block += 16;
  }
}

}  // namespace pipeward::privacy::avx512
