#include "pipeward/cpu_features.hpp"

#include <atomic>
#include <cstdlib>
#include <stdexcept>

#if defined(PIPEWARD_X86)
#include <cpuid.h>
#endif

namespace pipeward {
namespace {

CpuFeatures detect() {
  CpuFeatures f;
#if defined(PIPEWARD_X86)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  f.ssse3 = (c >> 9) & 1;
  f.sse41 = (c >> 19) & 1;
  f.fma = (c >> 12) & 1;
  const bool osxsave = (c >> 27) & 1;
  const bool avx = (c >> 28) & 1;
  unsigned long long xcr0 = 0;
  if (osxsave) {
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = (static_cast<unsigned long long>(hi) << 32) | lo;
  }
  const bool ymm_ok = (xcr0 & 0x6) == 0x6;
  const bool zmm_ok = (xcr0 & 0xe6) == 0xe6;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    f.sha_ni = ((b >> 29) & 1) && f.sse41 && f.ssse3;
    f.avx2 = avx && ymm_ok && ((b >> 5) & 1) && f.fma;
    const bool avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1;
    const bool avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
    f.avx512 = f.avx2 && zmm_ok && avx512f && avx512dq && avx512bw && avx512vl;
  }
#endif
  return f;
}

// -1 = auto; otherwise the highest Isa value allowed.
int parse_limit(const std::string& name) {
  if (name.empty() || name == "auto") return -1;
  if (name == "portable") return static_cast<int>(Isa::portable);
  if (name == "sha_ni") return static_cast<int>(Isa::sha_ni);
  if (name == "avx2") return static_cast<int>(Isa::avx2);
  if (name == "avx512") return static_cast<int>(Isa::avx512);
  throw std::invalid_argument("unknown instruction-set limit '" + name +
                              "': expected one of auto, portable, sha_ni, avx2, avx512");
}

int initial_limit() {
  const char* env = std::getenv("PIPEWARD_ISA");
  if (env == nullptr) return -1;
  try {
    return parse_limit(env);
  } catch (const std::invalid_argument&) {
    return static_cast<int>(Isa::portable);  // an unreadable cap errs on the safe side
  }
}

std::atomic<int>& limit_ref() {
  static std::atomic<int> limit{initial_limit()};
  return limit;
}

bool supported(Isa isa) {
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::portable: return true;
    case Isa::sha_ni: return f.sha_ni;
    case Isa::avx2: return f.avx2;
    case Isa::avx512: return f.avx512;
  }
  return false;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::sha_ni: return "sha_ni";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
    case Isa::portable: break;
  }
  return "portable";
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

void set_isa_limit(const std::string& name) { limit_ref().store(parse_limit(name)); }

std::string isa_limit() {
  switch (limit_ref().load()) {
    case -1: return "auto";
    case 0: return "portable";
    case 1: return "sha_ni";
    case 2: return "avx2";
    default: return "avx512";
  }
}

bool isa_enabled(Isa isa) {
  const int limit = limit_ref().load();
  if (limit >= 0 && static_cast<int>(isa) > limit) return false;
  return supported(isa);
}

std::vector<std::string> enabled_isas() {
  std::vector<std::string> out;
  if (isa_enabled(Isa::avx512)) out.push_back("avx512");
  if (isa_enabled(Isa::avx2)) out.push_back("avx2");
  if (isa_enabled(Isa::sha_ni)) out.push_back("sha_ni");
  out.push_back("portable");
  return out;
}

}  // namespace pipeward
