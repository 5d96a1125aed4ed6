// Definitions shared by the C++ and CUDA kernels. Headers in this folder hold no Python and
// compile under both g++ and nvcc: math that both sides need goes in PIPEWARD_HD inline
// functions so the CPU and GPU compute the same thing.
#pragma once

#if defined(__CUDACC__)
#define PIPEWARD_HD __host__ __device__ __forceinline__
#else
#define PIPEWARD_HD inline
#endif
