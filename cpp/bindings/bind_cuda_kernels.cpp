// _core.cuda_kernels(): every CUDA kernel's argument kinds, for the CuPy launcher's checks
// (pipeward._gpu.module). They come from the kernel tables the family headers declare, which
// the .cu files static_assert their kernels against: one declaration, checked by the compiler
// on both sides, and no CUDA source text read at run time.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <type_traits>

#include "pipeward/aggregate.hpp"
#include "pipeward/drift.hpp"
#include "pipeward/mahalanobis.hpp"
#include "pipeward/privacy.hpp"
#include "pipeward/sha256.hpp"

namespace py = pybind11;

namespace pipeward::bind {
namespace {

template <typename T>
struct unsupported : std::false_type {};

// "ptr" for a device pointer, else the C scalar type the launcher must pass exactly (CuPy
// passes an argument's raw bytes, so its width must match).
template <typename T>
constexpr const char* kind() {
  if constexpr (std::is_pointer_v<T>) {
    return "ptr";
  } else if constexpr (std::is_same_v<T, int64_t>) {
    return "int64_t";
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    return "uint64_t";
  } else if constexpr (std::is_same_v<T, int32_t>) {
    return "int32_t";
  } else if constexpr (std::is_same_v<T, uint32_t>) {
    return "uint32_t";
  } else if constexpr (std::is_same_v<T, double>) {
    return "double";
  } else if constexpr (std::is_same_v<T, float>) {
    return "float";
  } else {
    static_assert(unsupported<T>::value, "a kernel parameter type the launcher cannot pass");
  }
}

template <typename Kernel>
struct Kinds;
template <typename... Params>
struct Kinds<void(Params...)> {
  static py::tuple get() { return py::make_tuple(kind<Params>()...); }
};

#define PIPEWARD_KERNEL_KINDS(name, ...) kernels[#name] = Kinds<__VA_ARGS__>::get();
#define PIPEWARD_FAMILY_KINDS(family, TABLE) \
  {                                          \
    py::dict kernels;                        \
    TABLE(PIPEWARD_KERNEL_KINDS)             \
    tables[family] = kernels;                \
  }

py::dict kernel_tables() {
  py::dict tables;
  PIPEWARD_FAMILY_KINDS("sha256", PIPEWARD_SHA256_CUDA_KERNELS)
  PIPEWARD_FAMILY_KINDS("drift", PIPEWARD_DRIFT_CUDA_KERNELS)
  PIPEWARD_FAMILY_KINDS("privacy", PIPEWARD_PRIVACY_CUDA_KERNELS)
  PIPEWARD_FAMILY_KINDS("mahalanobis", PIPEWARD_MAHALANOBIS_CUDA_KERNELS)
  PIPEWARD_FAMILY_KINDS("aggregate", PIPEWARD_AGGREGATE_CUDA_KERNELS)
  return tables;
}

#undef PIPEWARD_FAMILY_KINDS
#undef PIPEWARD_KERNEL_KINDS

}  // namespace

void bind_cuda_kernels(py::module_& m) {
  m.def("cuda_kernels", &kernel_tables,
        "{family: {kernel: argument kinds}} for cuda/<family>.cu: 'ptr' for a device array, "
        "else the exact C scalar type (int64_t, uint64_t, int32_t, uint32_t, double, float).");
}

}  // namespace pipeward::bind
