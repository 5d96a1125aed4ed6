// Privacy kernels compiled for AVX2 + FMA (chosen at run time by privacy.cpp).
// No fused multiply-adds the source does not spell out: the noise transform must round like the
// portable build so every variant draws the same bits for a seed (tests check it).
#pragma GCC optimize("fp-contract=off")
#define PIPEWARD_PRIVACY_NS avx2
#include "privacy_kernels.hpp"
