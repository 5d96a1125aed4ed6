// Nearest-distance search: threading and the choice of instruction set. The vector scans are
// in nearest_{portable,avx2,avx512}.cpp.
#include "pipeward/nearest.hpp"

#include <omp.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "nearest_kernels.hpp"
#include "pipeward/dispatch.hpp"

namespace pipeward::nearest {
namespace {

using VariantFn = const detail::Variant& (*)();
const Variants<VariantFn> kVariants{detail::variant_portable,
                                    PIPEWARD_AVX2(detail::variant_avx2),
                                    PIPEWARD_AVX512(detail::variant_avx512)};

const detail::Variant& pick_variant() { return kVariants.select()(); }

constexpr std::size_t kQueryBlock = 16;

detail::ScanFn<double> scan_of(const detail::Variant& v, double*) { return v.scan_f64; }
detail::ScanFn<float> scan_of(const detail::Variant& v, float*) { return v.scan_f32; }

// Threads worth waking: each should get a couple of million multiply-adds, or starting the
// team costs more than it saves (one PRADA query, 10,000 x 30, stays on one thread).
int useful_threads(int threads, double flops) {
  const auto by_work = static_cast<long>(flops / 2.0e6) + 1;
  return static_cast<int>(std::max(1L, std::min(static_cast<long>(std::max(threads, 1)), by_work)));
}

}  // namespace

template <typename T>
void nearest_sq_distances(const T* X, std::size_t m, std::ptrdiff_t ldx, const T* Y,
                          std::size_t n, std::ptrdiff_t ldy, std::size_t d, T* out_d2,
                          std::int64_t* out_index, int threads) {
  if (m == 0) return;
  const auto scan = scan_of(pick_variant(), static_cast<T*>(nullptr));
  const T inf = std::numeric_limits<T>::infinity();
  threads = useful_threads(threads, double(m) * double(n) * double(d));
  if (threads == 1 || m >= static_cast<std::size_t>(threads)) {
    // Blocks of queries against chunks of Y that stay in L1/L2, so Y is streamed from memory
    // once per block of queries rather than once per query. Chunks are taken in order and
    // only a strictly smaller distance replaces the best, so the first index still wins ties.
    const std::size_t chunk = std::max<std::size_t>(16, (24 * 1024) / std::max<std::size_t>(1, d * sizeof(T)));
    const std::size_t n_blocks = (m + kQueryBlock - 1) / kQueryBlock;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (threads > 1)
    for (std::size_t b = 0; b < n_blocks; ++b) {
      const std::size_t i0 = b * kQueryBlock, i1 = std::min(m, i0 + kQueryBlock);
      for (std::size_t i = i0; i < i1; ++i) {
        out_d2[i] = inf;
        out_index[i] = 0;
      }
      // A lone query gains nothing from chunking: it scans Y in one run.
      const std::size_t step = i1 - i0 > 1 ? chunk : n;
      for (std::size_t j0 = 0; j0 < n; j0 += step) {
        const std::size_t j1 = std::min(n, j0 + step);
        for (std::size_t i = i0; i < i1; ++i) {
          scan(X + static_cast<std::ptrdiff_t>(i) * ldx, Y, ldy, j0, j1, d, &out_d2[i], &out_index[i]);
        }
      }
    }
    return;
  }
  // Few queries, many references: each thread scans one part of Y for every query, and the
  // parts are merged in order (strictly smaller wins, so the first index keeps ties).
  const std::size_t T_ = static_cast<std::size_t>(threads);
  std::vector<T> part_best(T_ * m, inf);
  std::vector<std::int64_t> part_index(T_ * m, 0);
#pragma omp parallel num_threads(threads)
  {
    const std::size_t t = static_cast<std::size_t>(omp_get_thread_num());
    const std::size_t j0 = n * t / T_, j1 = n * (t + 1) / T_;
    for (std::size_t i = 0; i < m; ++i) {
      scan(X + static_cast<std::ptrdiff_t>(i) * ldx, Y, ldy, j0, j1, d, &part_best[t * m + i],
           &part_index[t * m + i]);
    }
  }
  for (std::size_t i = 0; i < m; ++i) {
    T best = inf;
    std::int64_t bi = 0;
    for (std::size_t t = 0; t < T_; ++t) {
      if (part_best[t * m + i] < best) {
        best = part_best[t * m + i];
        bi = part_index[t * m + i];
      }
    }
    out_d2[i] = best;
    out_index[i] = bi;
  }
}

template void nearest_sq_distances<double>(const double*, std::size_t, std::ptrdiff_t,
                                           const double*, std::size_t, std::ptrdiff_t,
                                           std::size_t, double*, std::int64_t*, int);
template void nearest_sq_distances<float>(const float*, std::size_t, std::ptrdiff_t, const float*,
                                          std::size_t, std::ptrdiff_t, std::size_t, float*,
                                          std::int64_t*, int);

}  // namespace pipeward::nearest
