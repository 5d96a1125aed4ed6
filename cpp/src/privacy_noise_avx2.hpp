// The hand-written AVX2 noise generators (privacy_noise_avx2.cpp), called by the AVX2 build of
// privacy_kernels.hpp. Bit-identical to the portable header functions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pipeward::privacy::avx2 {

// out[j] = N(first + j) of the Philox stream (seed, stream), j < n: philox_normals' values.
void philox_normals_avx2(uint64_t seed, uint32_t stream, uint64_t first, std::size_t n,
                         float* out);

// out[j] = N(first + j) of the ChaCha20 stream (key: 8 words, nonce: 3): chacha_normals' values.
void chacha_normals_avx2(const uint32_t* key, const uint32_t* nonce, uint64_t first,
                         std::size_t n, float* out);

}  // namespace pipeward::privacy::avx2
