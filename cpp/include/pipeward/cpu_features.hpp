// Run-time instruction-set detection. Kernels pick a variant through dispatch.hpp, which asks
// `isa_enabled(Isa::X)`; the environment variable PIPEWARD_ISA caps the level for the whole process
// (PIPEWARD_ISA=portable forces the portable C++ paths) and tests lower the cap in-process.
#pragma once

#include <string>
#include <vector>

namespace pipeward {

enum class Isa : int {
  portable = 0,
  sha_ni = 1,   // SHA extensions (SHA256RNDS2 ...) with SSE4.1
  avx2 = 2,     // AVX2 + FMA
  avx512 = 3,   // AVX-512 F/BW/DQ/VL
};

struct CpuFeatures {
  bool sse41 = false;
  bool ssse3 = false;
  bool sha_ni = false;
  bool avx2 = false;
  bool fma = false;
  bool avx512 = false;  // F + BW + DQ + VL, with the OS saving the ZMM state
};

// "portable", "sha_ni", "avx2" or "avx512": the names PIPEWARD_ISA and capabilities() use.
const char* isa_name(Isa isa);

// What the processor and the OS support, detected once.
const CpuFeatures& cpu_features();

// The cap: "auto" (everything the CPU has), or the name of the highest variant allowed.
// Raises std::invalid_argument on an unknown name.
void set_isa_limit(const std::string& name);
std::string isa_limit();

// True when the CPU supports `isa` and the cap allows it.
bool isa_enabled(Isa isa);

// Names of the variants usable now, in order of preference.
std::vector<std::string> enabled_isas();

}  // namespace pipeward
