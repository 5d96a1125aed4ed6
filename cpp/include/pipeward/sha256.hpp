// SHA-256 (FIPS 180-4): the compression function shared by the C++ and CUDA kernels, and the
// C++ API of the streaming hasher and the file hashing built on it.
//
// The per-block math (round constants, Σ/σ/Ch/Maj, compress_block) lives here as PIPEWARD_HD
// inline functions so a CUDA kernel computes exactly what the portable C++ path computes.
// Everything below `#if !defined(__CUDACC__)` is host-only.
#pragma once

#include "pipeward/common.hpp"

#if !defined(__CUDACC_RTC__)
#include <cstddef>
#include <cstdint>
#endif

namespace pipeward::sha256 {

constexpr int kDigestSize = 32;
constexpr int kBlockSize = 64;

// FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube roots of the first
// 64 primes. Listed once; the host reads a constexpr array, the device a __constant__ copy.
#define PIPEWARD_SHA256_ROUND_CONSTANTS                                                       \
  0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u,  \
      0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u,           \
      0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u,           \
      0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau, 0x983e5152u,           \
      0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u,           \
      0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u,           \
      0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u,           \
      0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u, 0x19a4c116u,           \
      0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu,           \
      0x682e6ff3u, 0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau,           \
      0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u

inline constexpr uint32_t kRoundConstants[64] = {PIPEWARD_SHA256_ROUND_CONSTANTS};
#if defined(__CUDACC__)
__device__ __constant__ uint32_t kRoundConstantsDevice[64] = {PIPEWARD_SHA256_ROUND_CONSTANTS};
#endif

PIPEWARD_HD uint32_t round_constant(int t) {
#if defined(__CUDA_ARCH__)
  return kRoundConstantsDevice[t];
#else
  return kRoundConstants[t];
#endif
}

// FIPS 180-4 §5.3.3: the initial hash value H(0).
PIPEWARD_HD void initial_state(uint32_t h[8]) {
  h[0] = 0x6a09e667u; h[1] = 0xbb67ae85u; h[2] = 0x3c6ef372u; h[3] = 0xa54ff53au;
  h[4] = 0x510e527fu; h[5] = 0x9b05688cu; h[6] = 0x1f83d9abu; h[7] = 0x5be0cd19u;
}

// FIPS 180-4 §4.1.2.
PIPEWARD_HD uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
PIPEWARD_HD uint32_t ch(uint32_t x, uint32_t y, uint32_t z) { return (x & y) ^ (~x & z); }
PIPEWARD_HD uint32_t maj(uint32_t x, uint32_t y, uint32_t z) { return (x & y) ^ (x & z) ^ (y & z); }
PIPEWARD_HD uint32_t big_sigma0(uint32_t x) { return rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22); }
PIPEWARD_HD uint32_t big_sigma1(uint32_t x) { return rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25); }
PIPEWARD_HD uint32_t small_sigma0(uint32_t x) { return rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3); }
PIPEWARD_HD uint32_t small_sigma1(uint32_t x) { return rotr(x, 17) ^ rotr(x, 19) ^ (x >> 10); }

// Big-endian 32-bit load/store: SHA-256 reads its message words and writes its digest MSB first.
PIPEWARD_HD uint32_t load_be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}
PIPEWARD_HD void store_be32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24); p[1] = uint8_t(v >> 16); p[2] = uint8_t(v >> 8); p[3] = uint8_t(v);
}

// FIPS 180-4 §6.2.2: fold one 64-byte block into the state. The message schedule is kept as a
// rolling window of 16 words: W[t] overwrites W[t-16] in place.
PIPEWARD_HD void compress_block(uint32_t h[8], const uint8_t* block) {
  uint32_t w[16];
  for (int t = 0; t < 16; ++t) w[t] = load_be32(block + 4 * t);
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int t = 0; t < 64; ++t) {
    uint32_t wt;
    if (t < 16) {
      wt = w[t];
    } else {
      wt = small_sigma1(w[(t - 2) & 15]) + w[(t - 7) & 15] + small_sigma0(w[(t - 15) & 15]) +
           w[t & 15];
      w[t & 15] = wt;
    }
    const uint32_t t1 = hh + big_sigma1(e) + ch(e, f, g) + round_constant(t) + wt;
    const uint32_t t2 = big_sigma0(a) + maj(a, b, c);
    hh = g; g = f; f = e; e = d + t1;
    d = c; c = b; b = a; a = t1 + t2;
  }
  h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

// The streaming state: chaining value, a partial block and the message length so far.
struct State {
  uint32_t h[8];
  uint8_t buffer[kBlockSize];
  uint64_t length;     // bytes absorbed so far (SHA-256 caps messages at 2^64 - 1 bits)
  uint32_t buffered;   // bytes waiting in `buffer` (< 64)
};

PIPEWARD_HD void init(State& s) {
  initial_state(s.h);
  s.length = 0;
  s.buffered = 0;
}

// FIPS 180-4 §5.1.1 padding: 0x80, zeros, then the bit length as a big-endian 64-bit integer.
// Uses compress_block (portable); the host's dispatched `finish` below gives the same digest.
PIPEWARD_HD void pad_and_write_digest(State& s, uint8_t out[kDigestSize]) {
  const uint64_t bits = s.length * 8u;
  uint32_t n = s.buffered;
  s.buffer[n++] = 0x80;
  if (n > 56) {
    while (n < 64) s.buffer[n++] = 0;
    compress_block(s.h, s.buffer);
    n = 0;
  }
  while (n < 56) s.buffer[n++] = 0;
  for (int i = 0; i < 8; ++i) s.buffer[56 + i] = uint8_t(bits >> (56 - 8 * i));
  compress_block(s.h, s.buffer);
  for (int i = 0; i < 8; ++i) store_be32(out + 4 * i, s.h[i]);
}

// ---- the CUDA kernels of cuda/sha256.cu (PIPEWARD_CHECK_CUDA_KERNEL in common.hpp) --------

// Rows of a byte matrix: base, n, chunk_len, row_stride, digests.
using ChunksKernel = void(const uint8_t*, uint64_t, uint64_t, uint64_t, uint8_t*);
// Messages anywhere in device memory: addresses, lengths, n, digests.
using MessagesKernel = void(const uint64_t*, const uint64_t*, uint64_t, uint8_t*);

}  // namespace pipeward::sha256

#define PIPEWARD_SHA256_CUDA_KERNELS(X)                   \
  X(sha256_chunks, ::pipeward::sha256::ChunksKernel)      \
  X(sha256_messages, ::pipeward::sha256::MessagesKernel)

#if !defined(__CUDACC__)
#include <atomic>
#include <cerrno>
#include <string>
#include <vector>

namespace pipeward::sha256 {

// A function that folds `nblocks` consecutive 64-byte blocks into h (standard word order).
using BlocksFn = void (*)(uint32_t h[8], const uint8_t* data, size_t nblocks);

// 16 independent streams in lock-step: state[k][j] is word k of stream j's chaining value;
// stream j reads `nblocks` consecutive blocks from data[j].
using BlocksX16Fn = void (*)(uint32_t state[8][16], const uint8_t* const data[16],
                             size_t nblocks);

// The variants (dispatch.hpp picks one): portable in sha256.cpp, the others in the
// sha256_<isa>.cpp file of their instruction set.
void blocks_portable(uint32_t h[8], const uint8_t* data, size_t nblocks);
void blocks_shani(uint32_t h[8], const uint8_t* data, size_t nblocks);
void blocks_x16_portable(uint32_t state[8][16], const uint8_t* const data[16], size_t nblocks);
void blocks_x16_avx512(uint32_t state[8][16], const uint8_t* const data[16], size_t nblocks);

// Whether the lock-step streams are faster than one stream at a time now (the AVX-512
// variant is; the portable one only keeps the non-x86 build complete).
bool multibuffer_enabled();

// Digests of n independent messages (message i: len[i] bytes at data[i]) into
// out[32 * i ...], on `threads` threads; lock-step streams when multibuffer_enabled().
void digest_many(const uint8_t* const* data, const size_t* len, size_t n, uint8_t* out,
                 int threads);

// The best block function the CPU and the PIPEWARD_ISA cap allow now.
BlocksFn select_blocks();
// "sha_ni" or "portable": which path `select_blocks` picks now.
const char* selected_path();

// Streaming interface on State, using the dispatched block function.
void update(State& s, const uint8_t* data, size_t len);
void finish(State& s, uint8_t out[kDigestSize]);  // s is consumed
void digest(const uint8_t* data, size_t len, uint8_t out[kDigestSize]);

// Shared between a running job and an observer (a progress bar): counters and a stop flag.
struct Progress {
  std::atomic<uint64_t> bytes_done{0};
  std::atomic<uint64_t> files_done{0};
  std::atomic<bool> cancelled{false};
};

// The error of a file that is not a regular file (a FIFO or device) when special files
// were not asked for: reading one could block for ever (a FIFO without a writer) or never end.
constexpr int kNotRegular = ESPIPE;

// What hashing one file gave. `error` is 0 on success, an errno value on failure
// (ECANCELED when cancelled or skipped after an earlier error, kNotRegular for a special file
// not asked for), and `changed` is set when the file's size, modification or status-change
// time moved while it was read, or its path no longer names it (deleted or replaced).
struct FileDigest {
  uint8_t digest[kDigestSize] = {};
  uint64_t size = 0;       // bytes hashed (== st_size for a regular file that did not change)
  int64_t mtime_ns = 0;    // st_mtim of the open file descriptor, after reading
  int error = 0;
  bool changed = false;
  bool skipped = false;    // not attempted: an earlier file failed or the job was cancelled
};

// Hash one file by path. `overlap` reads the next chunk on a helper thread while this one
// hashes the current chunk (double buffering); memory stays bounded by two chunks. With
// `allow_special`, FIFOs and character devices are read too: waiting for data in poll() with
// a short timeout, so `progress->cancelled` stops a read that has no writer.
FileDigest hash_path(const char* path, bool overlap, Progress* progress, bool allow_special = false);

// Hash many files on `threads` OpenMP threads, results in input order. Unless `keep_going`,
// the files not yet started after the first failure are skipped (marked `skipped`).
std::vector<FileDigest> hash_paths(const std::vector<std::string>& paths, int threads,
                                   Progress* progress, bool keep_going = false,
                                   bool allow_special = false);

}  // namespace pipeward::sha256
#endif
