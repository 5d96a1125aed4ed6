// SHA-256 of many independent messages in one launch: one message per thread, grid-stride.
// Digests are the standard FIPS 180-4 ones (identical to hashlib). Throughput comes from many
// messages at once; one long message is inherently sequential and gets one thread.
#include <cstdint>

#include "sha256_device.cuh"

using pipeward::sha256_device::hash_message;

// Rows of a 2-D byte buffer: message i is `chunk_len` bytes at base + i * row_stride.
// digests: n x 32 bytes.
extern "C" __global__ void sha256_chunks(const uint8_t* __restrict__ base, uint64_t n,
                                         uint64_t chunk_len, uint64_t row_stride,
                                         uint8_t* __restrict__ digests) {
  for (uint64_t i = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<uint64_t>(gridDim.x) * blockDim.x) {
    hash_message(base + i * row_stride, chunk_len, digests + 32 * i);
  }
}

// Messages anywhere in device memory (e.g. the tensors of a loaded model): message i is
// lengths[i] bytes at the device address addresses[i]. digests: n x 32 bytes.
extern "C" __global__ void sha256_messages(const uint64_t* __restrict__ addresses,
                                           const uint64_t* __restrict__ lengths, uint64_t n,
                                           uint8_t* __restrict__ digests) {
  for (uint64_t i = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<uint64_t>(gridDim.x) * blockDim.x) {
    hash_message(reinterpret_cast<const uint8_t*>(addresses[i]), lengths[i], digests + 32 * i);
  }
}

// Every kernel above takes the parameters pipeward/sha256.hpp declares (the launcher checks
// its arguments against that table).
PIPEWARD_SHA256_CUDA_KERNELS(PIPEWARD_CHECK_CUDA_KERNEL)
