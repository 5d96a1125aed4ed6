// What the hand-written noise generators (privacy_noise_<isa>.cpp) share whatever their vector
// width: ChaCha20's round schedule (chacha20_rounds.hpp, shared with secagg too), and the loop
// step (a generator fills whole groups of N normals; a request that starts or ends inside a
// group takes the part it asked for).
#pragma once

#include <cstddef>
#include <cstring>

#include "chacha20_rounds.hpp"

namespace pipeward::privacy {

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
