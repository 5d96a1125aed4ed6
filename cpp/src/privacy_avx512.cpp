// Privacy kernels compiled for AVX-512 (chosen at run time by privacy.cpp). 512-bit vectors pay
// off here: Philox and ChaCha20 are integer work with no frequency-heavy instructions.
#pragma GCC target("prefer-vector-width=512")
// No fused multiply-adds the source does not spell out: the noise transform must round like the
// portable build so every variant draws the same bits for a seed (tests check it).
#pragma GCC optimize("fp-contract=off")
#define PIPEWARD_PRIVACY_NS avx512
// The noise generators and the float32 clipping loops are hand-written for this build:
// privacy_noise_avx512.cpp, privacy_clip_avx512.cpp.
#define PIPEWARD_PRIVACY_HAND_AVX512 1
#include "privacy_kernels.hpp"
