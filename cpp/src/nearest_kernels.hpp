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

// One per instruction-set file; the x86 ones exist only on x86-64 (dispatch.hpp).
const Variant& variant_portable();
const Variant& variant_avx2();
const Variant& variant_avx512();

}  // namespace pipeward::nearest::detail
