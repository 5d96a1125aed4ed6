// Privacy kernels compiled for AVX-512 (chosen at run time by privacy.cpp). 512-bit vectors pay
// off here: Philox and ChaCha20 are integer work with no frequency-heavy instructions.
#pragma GCC target("prefer-vector-width=512")
// No fused multiply-adds the source does not spell out: the noise transform must round like the
// portable build so every variant draws the same bits for a seed (tests check it).
#pragma GCC optimize("fp-contract=off")
#define PIPEWARD_PRIVACY_NS avx512
#define PIPEWARD_PRIVACY_HAND_AVX512 1  // Philox noise: privacy_noise_avx512.cpp
#include "privacy_kernels.hpp"
