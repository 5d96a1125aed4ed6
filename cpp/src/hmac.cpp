// Batched HMAC-SHA256: one message at a time through a SHA-256 block function (portable or
// SHA-NI), or 16 messages in lock-step through the AVX-512 multi-buffer block function, whose
// lanes are refilled as soon as their message is done (messages differ in length). The three
// are one table of variants (dispatch.hpp), chosen per call.
#include "pipeward/hmac.hpp"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "pipeward/dispatch.hpp"
#include "pipeward/sha256.hpp"

namespace pipeward::hmac {
namespace {

namespace sha = pipeward::sha256;
constexpr size_t kBlock = sha::kBlockSize;
constexpr char kHex[] = "0123456789abcdef";

// Two hex digits per byte from a table: the digest bytes go out most significant first.
struct HexPairs {
  char pair[256][2];
  constexpr HexPairs() : pair() {
    for (int b = 0; b < 256; ++b) {
      pair[b][0] = kHex[b >> 4];
      pair[b][1] = kHex[b & 15];
    }
  }
};
constexpr HexPairs kHexPairs{};

void write_hex(const uint32_t h[8], int width, char* out) {
  if (width == 64) {
    for (int i = 0; i < 8; ++i) {
      for (int b = 0; b < 4; ++b) std::memcpy(out + 8 * i + 2 * b, kHexPairs.pair[(h[i] >> (24 - 8 * b)) & 255], 2);
    }
    return;
  }
  for (int d = 0; d < width; ++d) out[d] = kHex[(h[d / 8] >> (28 - 4 * (d % 8))) & 15];
}

// The SHA-256 padding of a message's last partial block, for a hash that has already absorbed
// `prefix` bytes (the 64-byte key block) and `len` message bytes: one or two blocks in `tail`.
size_t pad_tail(const uint8_t* rest, size_t rest_len, uint64_t total_len, uint8_t tail[2 * kBlock]) {
  std::memset(tail, 0, 2 * kBlock);
  if (rest_len > 0) std::memcpy(tail, rest, rest_len);  // rest may be null when empty
  tail[rest_len] = 0x80;
  const size_t blocks = rest_len + 1 + 8 <= kBlock ? 1 : 2;
  const uint64_t bits = total_len * 8;
  for (int i = 0; i < 8; ++i) tail[blocks * kBlock - 8 + i] = uint8_t(bits >> (56 - 8 * i));
  return blocks;
}

// The outer block: the 32-byte inner digest, then padding for 64 + 32 bytes in all.
void outer_block(const uint32_t inner[8], uint8_t block[kBlock]) {
  std::memset(block, 0, kBlock);
  for (int i = 0; i < 8; ++i) sha::store_be32(block + 4 * i, inner[i]);
  block[32] = 0x80;
  block[62] = 0x03;  // (64 + 32) * 8 = 768 bits = 0x0300
}

// Messages lo..hi-1 of a batch, their tokens written to out: one variant of the kernel.
template <typename Off>
using ChunkFn = void (*)(const Key& key, const uint8_t* data, const Off* offsets, size_t lo,
                         size_t hi, int width, char* out);

template <typename Off, sha::BlocksFn blocks>
void one_at_a_time(const Key& key, const uint8_t* data, const Off* offsets, size_t lo, size_t hi,
                   int width, char* out) {
  uint8_t tail[2 * kBlock];
  uint8_t outer[kBlock];
  for (size_t i = lo; i < hi; ++i) {
    const uint8_t* msg = data + offsets[i];
    const size_t len = static_cast<size_t>(offsets[i + 1] - offsets[i]);
    uint32_t h[8];
    std::memcpy(h, key.inner, sizeof h);
    const size_t whole = len / kBlock;
    if (whole) blocks(h, msg, whole);
    const size_t nt = pad_tail(msg + whole * kBlock, len - whole * kBlock, kBlock + len, tail);
    blocks(h, tail, nt);
    outer_block(h, outer);
    std::memcpy(h, key.outer, sizeof h);
    blocks(h, outer, 1);
    write_hex(h, width, out + i * static_cast<size_t>(width));
  }
}

// 16 lanes, each working through its own message: whole message blocks, then 1-2 padded tail
// blocks, then the outer block. A lane whose message is done takes the next one.
template <typename Off, sha::BlocksX16Fn blocks_x16>
void sixteen_at_a_time(const Key& key, const uint8_t* data, const Off* offsets, size_t lo,
                       size_t hi, int width, char* out) {
  constexpr int kLanes = 16;
  struct Lane {
    size_t msg = 0;
    const uint8_t* next = nullptr;  // the next block to compress
    size_t whole_left = 0;          // whole message blocks still to do
    size_t tail_left = 0;           // padded tail blocks still to do (after the whole ones)
    bool outer = false;             // compressing the outer block now
    bool busy = false;
    alignas(64) uint8_t tail[2 * kBlock];
    alignas(64) uint8_t outer_blk[kBlock];
  };
  Lane lanes[kLanes];
  alignas(64) uint32_t state[8][kLanes];
  alignas(64) static const uint8_t idle_block[kBlock] = {};
  size_t next_msg = lo;

  const auto load = [&](int j) {
    Lane& l = lanes[j];
    if (next_msg >= hi) {
      l.busy = false;
      return;
    }
    l.msg = next_msg++;
    l.busy = true;
    l.outer = false;
    const uint8_t* msg = data + offsets[l.msg];
    const size_t len = static_cast<size_t>(offsets[l.msg + 1] - offsets[l.msg]);
    l.whole_left = len / kBlock;
    l.tail_left = pad_tail(msg + l.whole_left * kBlock, len - l.whole_left * kBlock, kBlock + len, l.tail);
    l.next = l.whole_left ? msg : l.tail;
    for (int k = 0; k < 8; ++k) state[k][j] = key.inner[k];
  };
  for (int j = 0; j < kLanes; ++j) load(j);

  const uint8_t* ptrs[kLanes];
  for (;;) {
    int busy = 0;
    for (int j = 0; j < kLanes; ++j) {
      ptrs[j] = lanes[j].busy ? lanes[j].next : idle_block;
      busy += lanes[j].busy;
    }
    if (busy == 0) return;
    blocks_x16(state, ptrs, 1);
    for (int j = 0; j < kLanes; ++j) {
      Lane& l = lanes[j];
      if (!l.busy) continue;
      if (l.outer) {  // the MAC is done
        uint32_t h[8];
        for (int k = 0; k < 8; ++k) h[k] = state[k][j];
        write_hex(h, width, out + l.msg * static_cast<size_t>(width));
        load(j);
      } else if (l.whole_left > 0) {
        --l.whole_left;
        l.next = l.whole_left ? l.next + kBlock : l.tail;
      } else if (--l.tail_left > 0) {
        l.next = l.tail + kBlock;
      } else {  // the inner hash is done: its digest goes into the outer block
        uint32_t h[8];
        for (int k = 0; k < 8; ++k) h[k] = state[k][j];
        outer_block(h, l.outer_blk);
        for (int k = 0; k < 8; ++k) state[k][j] = key.outer[k];
        l.outer = true;
        l.next = l.outer_blk;
      }
    }
  }
}

// The lock-step variant only where the 16 lanes run in AVX-512 registers; elsewhere one message
// at a time is faster (blocks_x16_portable only keeps sha256's own table complete).
template <typename Off>
const Variants<ChunkFn<Off>> kTokens{one_at_a_time<Off, sha::blocks_portable>,
                                     PIPEWARD_SHA_NI((one_at_a_time<Off, sha::blocks_shani>)),
                                     PIPEWARD_AVX512((sixteen_at_a_time<Off, sha::blocks_x16_avx512>))};

template <typename Off>
void run(const Key& key, const uint8_t* data, const Off* offsets, size_t n, int width, char* out,
         int threads) {
  // Chunks big enough to keep 16 lanes busy, small enough to balance uneven lengths.
  constexpr size_t kChunk = 4096;
  const long chunks = static_cast<long>((n + kChunk - 1) / kChunk);
  const ChunkFn<Off> chunk = kTokens<Off>.select();
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (chunks > 1)
  for (long c = 0; c < chunks; ++c) {
    const size_t lo = static_cast<size_t>(c) * kChunk;
    const size_t hi = std::min(n, lo + kChunk);
    chunk(key, data, offsets, lo, hi, width, out);
  }
}

}  // namespace

Key prepare_key(const uint8_t* key, size_t len) {
  uint8_t block[kBlock] = {};
  if (len > kBlock) {
    sha::digest(key, len, block);
  } else if (len > 0) {
    std::memcpy(block, key, len);
  }
  Key k;
  uint8_t pad[kBlock];
  for (size_t i = 0; i < kBlock; ++i) pad[i] = block[i] ^ 0x36;
  sha::initial_state(k.inner);
  sha::blocks_portable(k.inner, pad, 1);
  for (size_t i = 0; i < kBlock; ++i) pad[i] = block[i] ^ 0x5c;
  sha::initial_state(k.outer);
  sha::blocks_portable(k.outer, pad, 1);
  return k;
}

void hex_tokens(const Key& key, const uint8_t* data, const int64_t* offsets, size_t n, int width,
                char* out, int threads) {
  run(key, data, offsets, n, width, out, threads);
}

void hex_tokens(const Key& key, const uint8_t* data, const int32_t* offsets, size_t n, int width,
                char* out, int threads) {
  run(key, data, offsets, n, width, out, threads);
}

const char* selected_path() {
  const Isa isa = kTokens<int64_t>.selected_isa();
  return isa == Isa::avx512 ? "avx512x16" : isa_name(isa);
}

}  // namespace pipeward::hmac
