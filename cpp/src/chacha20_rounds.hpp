// ChaCha20's 20 rounds (RFC 8439 section 2.3), written once for every vectorised ChaCha20 in
// the core: the DP noise generators (privacy_noise_<isa>.cpp) and the secure-aggregation masks
// (secagg_mask_kernels.hpp). Each caller passes its own quarter round on its own state type
// (one block per vector lane).
//
// Internal linkage on purpose: this header is compiled into translation units built for
// different instruction sets (none, -mavx2, -mavx512f ...). An inline template with external
// linkage would get one symbol name per argument types, and where two ISA files instantiate it
// with the same types (plain arrays and a function pointer, say) the linker keeps one of the
// differently compiled copies for all of them: the portable path could run AVX-512 code. In
// the unnamed namespace every translation unit keeps its own copy.
#pragma once

namespace pipeward {
namespace {  // NOLINT(build/namespaces): one instantiation per translation unit, see above

template <typename Word, typename Quarter>
inline void chacha20_rounds(Word (&x)[16], Quarter quarter) {
  for (int i = 0; i < 10; ++i) {
    quarter(x[0], x[4], x[8], x[12]);  // column round
    quarter(x[1], x[5], x[9], x[13]);
    quarter(x[2], x[6], x[10], x[14]);
    quarter(x[3], x[7], x[11], x[15]);
    quarter(x[0], x[5], x[10], x[15]);  // diagonal round
    quarter(x[1], x[6], x[11], x[12]);
    quarter(x[2], x[7], x[8], x[13]);
    quarter(x[3], x[4], x[9], x[14]);
  }
}

}  // namespace
}  // namespace pipeward
