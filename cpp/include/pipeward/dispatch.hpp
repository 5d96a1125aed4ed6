// One way for every kernel to choose among its instruction-set variants.
//
// A kernel declares a table of its variants once, portable first:
//
//   static const Variants<SweepFn> kSweep{ks_sweep_portable, PIPEWARD_AVX512(ks_sweep_avx512)};
//   kSweep.select()(args...);
//
// select() returns the best variant that the CPU supports and the PIPEWARD_ISA cap allows
// (cpu_features.hpp); the cap is read at every call, so tests can lower it in-process. The
// x86-only files (*_shani.cpp, *_avx2.cpp, *_avx512.cpp) are compiled for x86-64 alone
// (CMakeLists.txt), so a variant is named through PIPEWARD_SHA_NI / PIPEWARD_AVX2 /
// PIPEWARD_AVX512, which become "no variant" elsewhere: this file is the one place that knows
// about the x86 guard, and an ARM build of a kernel always has its portable variant.
#pragma once

#include "pipeward/cpu_features.hpp"

namespace pipeward {

// One x86 variant of a kernel; fn == nullptr: not built for this machine.
template <typename Fn>
struct IsaVariant {
  Isa isa;
  Fn fn;
};

// The variants of one kernel, by instruction set. Fn is a function (or table) pointer; the
// portable one is required, the others may be absent.
template <typename Fn>
struct Variants {
  // The portable variant, then up to three x86 ones (PIPEWARD_SHA_NI/AVX2/AVX512 below).
  using Entry = IsaVariant<Fn>;
  constexpr Variants(Fn portable_variant, Entry a = Entry{Isa::portable, nullptr},
                     Entry b = Entry{Isa::portable, nullptr},
                     Entry c = Entry{Isa::portable, nullptr})
      : portable(portable_variant) {
    put(a);
    put(b);
    put(c);
  }

  Fn portable;
  Fn sha_ni = nullptr;
  Fn avx2 = nullptr;
  Fn avx512 = nullptr;

  // The best variant usable now.
  Fn select() const { return of(selected_isa()); }

  // Which instruction set select() would take now.
  Isa selected_isa() const {
    if (avx512 != nullptr && isa_enabled(Isa::avx512)) return Isa::avx512;
    if (avx2 != nullptr && isa_enabled(Isa::avx2)) return Isa::avx2;
    if (sha_ni != nullptr && isa_enabled(Isa::sha_ni)) return Isa::sha_ni;
    return Isa::portable;
  }

  Fn of(Isa isa) const {
    switch (isa) {
      case Isa::sha_ni: return sha_ni;
      case Isa::avx2: return avx2;
      case Isa::avx512: return avx512;
      case Isa::portable: break;
    }
    return portable;
  }

 private:
  constexpr void put(Entry e) {
    if (e.fn == nullptr) return;
    switch (e.isa) {
      case Isa::sha_ni: sha_ni = e.fn; break;
      case Isa::avx2: avx2 = e.fn; break;
      case Isa::avx512: avx512 = e.fn; break;
      case Isa::portable: portable = e.fn; break;
    }
  }
};

}  // namespace pipeward

// A variant from an x86-only file: {isa, fn} on x86-64, {isa, nullptr} elsewhere (where fn is
// declared but never built, so it must not be referenced).
#if defined(PIPEWARD_X86)
#define PIPEWARD_ISA_VARIANT_(isa, fn) {::pipeward::Isa::isa, fn}
#else
#define PIPEWARD_ISA_VARIANT_(isa, fn) {::pipeward::Isa::isa, nullptr}
#endif
#define PIPEWARD_SHA_NI(fn) PIPEWARD_ISA_VARIANT_(sha_ni, fn)
#define PIPEWARD_AVX2(fn) PIPEWARD_ISA_VARIANT_(avx2, fn)
#define PIPEWARD_AVX512(fn) PIPEWARD_ISA_VARIANT_(avx512, fn)
