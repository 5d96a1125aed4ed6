// What the hand-written noise generators (privacy_noise_<isa>.cpp) share whatever their vector
// width: ChaCha20's round schedule, and the loop step (a generator fills whole groups of N
// normals; a request that starts or ends inside a group takes the part it asked for).
#pragma once

#include <cstddef>
#include <cstring>

namespace pipeward::privacy {

// ChaCha20's 20 rounds (RFC 8439 section 2.3) on a state of vectors, one block per lane, given
// the width's quarter round.
template <typename V, typename Quarter>
inline void chacha_rounds(V (&x)[16], Quarter quarter) {
  for (int i = 0; i < 10; ++i) {
    quarter(x[0], x[4], x[8], x[12]);
    quarter(x[1], x[5], x[9], x[13]);
    quarter(x[2], x[6], x[10], x[14]);
    quarter(x[3], x[7], x[11], x[15]);
    quarter(x[0], x[5], x[10], x[15]);
    quarter(x[1], x[6], x[11], x[12]);
    quarter(x[2], x[7], x[8], x[13]);
    quarter(x[3], x[4], x[9], x[14]);
  }
}

// One group of N normals from generate(to) into *out, or, for a ragged head or tail, the part
// of a whole group that was asked for (skip values in, at most *n).
template <std::size_t N, typename Generate>
inline void emit_group(Generate generate, std::size_t* skip, std::size_t* n, float** out) {
  if (*skip == 0 && *n >= N) {
    generate(*out);
    *out += N;
    *n -= N;
    return;
  }
  alignas(64) float tmp[N];
  generate(tmp);
  const std::size_t take = *n < N - *skip ? *n : N - *skip;
  std::memcpy(*out, tmp + *skip, take * sizeof(float));
  *out += take;
  *n -= take;
  *skip = 0;
}

}  // namespace pipeward::privacy
