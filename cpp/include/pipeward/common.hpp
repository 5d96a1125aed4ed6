// Definitions shared by the C++ and CUDA kernels. Headers in this folder hold no Python and
// compile under both g++ and nvcc: math that both sides need goes in PIPEWARD_HD inline
// functions so the CPU and GPU compute the same thing.
#pragma once

#if defined(__CUDACC__)
#define PIPEWARD_HD __host__ __device__ __forceinline__
#else
#define PIPEWARD_HD inline
#endif

namespace pipeward {

// Whether A and B are one type: std::is_same without <type_traits>, which NVRTC lacks.
template <typename A, typename B>
struct same_type {
  static constexpr bool value = false;
};
template <typename A>
struct same_type<A, A> {
  static constexpr bool value = true;
};

}  // namespace pipeward

// The CUDA kernels of a family are declared once, in its header, as an X-macro table of
// X(kernel name, parameter list as a function type). The .cu file expands the table with
// PIPEWARD_CHECK_CUDA_KERNEL after its kernels, so a kernel whose parameters differ from the
// table (or a table entry without its kernel) does not compile; the bindings expand it into
// the argument kinds the CuPy launcher checks (pipeward._gpu.module, _core.cuda_kernels()).
#define PIPEWARD_CHECK_CUDA_KERNEL(name, ...)                              \
  static_assert(::pipeward::same_type<decltype(name), __VA_ARGS__>::value, \
                #name ": its parameters differ from its family header's kernel table");
