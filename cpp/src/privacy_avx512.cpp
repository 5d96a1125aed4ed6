// Privacy kernels compiled for AVX-512 (chosen at run time by privacy.cpp).
#define PIPEWARD_PRIVACY_NS avx512
#include "privacy_kernels.hpp"
