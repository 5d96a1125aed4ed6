// Privacy kernels compiled for AVX2 + FMA (chosen at run time by privacy.cpp).
// No fused multiply-adds the source does not spell out: the noise transform must round like the
// portable build so every variant draws the same bits for a seed (tests check it).
#pragma GCC optimize("fp-contract=off")
#define PIPEWARD_PRIVACY_NS avx2
// The noise generators are hand-written for this build: privacy_noise_avx2.cpp.
#define PIPEWARD_PRIVACY_HAND_AVX2 1
#include "privacy_kernels.hpp"
