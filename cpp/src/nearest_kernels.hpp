// The nearest-distance variants the dispatcher chooses from (one per instruction set).
#pragma once

#include <cstddef>
#include <cstdint>

namespace pipeward::nearest::detail {

template <typename T>
using ScanFn = void (*)(const T* x, const T* Y, std::ptrdiff_t ldy, std::size_t j0,
                        std::size_t j1, std::size_t d, T* best, std::int64_t* best_index);

struct Variant {
  ScanFn<double> scan_f64;
  ScanFn<float> scan_f32;
};

const Variant& variant_portable();
#if defined(PIPEWARD_X86)
const Variant& variant_avx2();
const Variant& variant_avx512();
#endif

}  // namespace pipeward::nearest::detail
