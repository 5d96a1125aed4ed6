// Privacy kernels compiled for AVX2 + FMA (chosen at run time by privacy.cpp).
#define PIPEWARD_PRIVACY_NS avx2
#include "privacy_kernels.hpp"
