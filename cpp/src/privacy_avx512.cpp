// Privacy kernels compiled for AVX-512 (chosen at run time by privacy.cpp). 512-bit vectors pay
// off here: Philox and ChaCha20 are integer work with no frequency-heavy instructions.
#pragma GCC target("prefer-vector-width=512")
#define PIPEWARD_PRIVACY_NS avx512
#define PIPEWARD_PRIVACY_HAND_AVX512 1  // Philox noise: privacy_noise_avx512.cpp
#include "privacy_kernels.hpp"
