// Runs the GPU SHA-256 code path (cuda/sha256_device.cuh) on the host, so its block loop and
// padding are checked against hashlib on machines without a GPU (tests/test_gpu_sources.py).
// Usage: sha256_on_host FILE OFFSET LEN [LEN ...]: hashes consecutive messages of FILE, each
// copied to OFFSET bytes past a 16-byte boundary; prints one hex digest per line.
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "sha256_device.cuh"

int main(int argc, char** argv) {
  if (argc < 4) return 2;
  FILE* f = std::fopen(argv[1], "rb");
  if (!f) return 2;
  std::vector<unsigned char> data;
  for (int c; (c = std::fgetc(f)) != EOF;) data.push_back(static_cast<unsigned char>(c));
  std::fclose(f);
  const std::size_t offset = std::strtoul(argv[2], nullptr, 10);
  std::size_t pos = 0;
  for (int a = 3; a < argc; ++a) {
    const std::size_t len = std::strtoul(argv[a], nullptr, 10);
    std::vector<uint4> buf((len + offset) / 16 + 2);
    unsigned char* p = reinterpret_cast<unsigned char*>(buf.data()) + offset;
    for (std::size_t i = 0; i < len; ++i) p[i] = data[pos + i];
    pos += len;
    unsigned char digest[32];
    pipeward::sha256_device::hash_message(p, len, digest);
    for (unsigned char b : digest) std::printf("%02x", b);
    std::printf("\n");
  }
  return 0;
}
