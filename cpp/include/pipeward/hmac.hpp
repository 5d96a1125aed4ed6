// Batched HMAC-SHA256 (RFC 2104, FIPS 198-1) over many short messages, on the SHA-256 core:
// one message at a time with SHA-NI (or the portable block function), or 16 at a time with the
// AVX-512 multi-buffer block function. Output: the first `width` hex digits of each MAC, the
// keyed tokens of pipeward.protect.tokenize.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pipeward::hmac {

// The key folded into the SHA-256 states after the ipad and opad blocks: every message then
// costs its own blocks plus one outer block.
struct Key {
  uint32_t inner[8];
  uint32_t outer[8];
};

// Keys longer than the 64-byte block are hashed first (RFC 2104 section 3).
Key prepare_key(const uint8_t* key, size_t len);

// Messages in Arrow's layout: message i is data[offsets[i] .. offsets[i + 1]). Writes the first
// `width` (1..64) lowercase hex digits of HMAC(key, message i) to out[i * width ...]. Offsets
// must be non-decreasing and inside data (the binding checks). Runs on `threads` threads.
void hex_tokens(const Key& key, const uint8_t* data, const int64_t* offsets, size_t n, int width,
                char* out, int threads);
void hex_tokens(const Key& key, const uint8_t* data, const int32_t* offsets, size_t n, int width,
                char* out, int threads);

// Which path hex_tokens takes now: "avx512x16", "sha_ni" or "portable".
const char* selected_path();

}  // namespace pipeward::hmac
