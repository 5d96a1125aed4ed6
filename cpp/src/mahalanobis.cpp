// Mahalanobis kernels: blocking, centring, threading and the choice of instruction set.
// The register-tiled inner loops are in mahalanobis_{portable,avx2,avx512}.cpp.
#include "pipeward/mahalanobis.hpp"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "mahalanobis_tile.hpp"
#include "pipeward/dispatch.hpp"

namespace pipeward::mahalanobis {
namespace {

using VariantFn = const detail::Variant& (*)();
const Variants<VariantFn> kVariants{detail::variant_portable,
                                    PIPEWARD_AVX2(detail::variant_avx2),
                                    PIPEWARD_AVX512(detail::variant_avx512)};

const detail::Variant& pick_variant() { return kVariants.select()(); }

std::size_t round_up(std::size_t x, std::size_t m) { return (x + m - 1) / m * m; }

// Threads worth starting: each should get a few million multiply-adds, or waking the team
// costs more than it saves (and a busy machine makes idle OpenMP threads expensive).
int useful_threads(int threads, std::size_t n_blocks, double flops) {
  const double per_thread = 4.0e6;
  const auto by_work = static_cast<std::size_t>(flops / per_thread) + 1;
  return static_cast<int>(std::max<std::size_t>(
      1, std::min({static_cast<std::size_t>(std::max(threads, 1)), n_blocks, by_work})));
}

// Rows per block: the centred block (plus the factor panels) should stay in a core's L2.
std::size_t block_rows(std::size_t d, std::size_t bytes_per_value, std::size_t mr) {
  const std::size_t budget = 192 * 1024;
  const std::size_t rows = budget / std::max<std::size_t>(1, d * bytes_per_value);
  return round_up(std::clamp<std::size_t>(rows, 4 * mr, 512), mr);
}

// The factor in column panels of width nr, zero-padded; a lower-triangular factor's panel p
// starts at row p*nr since the rows above it are zero there.
template <typename T>
std::vector<T> pack_panels(const T* factor, std::size_t d, std::size_t nr, bool lower) {
  std::size_t total = 0;
  for (std::size_t j0 = 0; j0 < d; j0 += nr) total += (d - (lower ? j0 : 0)) * nr;
  std::vector<T> packed(total, T(0));
  T* p = packed.data();
  for (std::size_t j0 = 0; j0 < d; j0 += nr) {
    for (std::size_t k = lower ? j0 : 0; k < d; ++k, p += nr) {
      for (std::size_t j = j0; j < std::min(d, j0 + nr); ++j) {
        p[j - j0] = (lower && k < j) ? T(0) : factor[k * d + j];
      }
    }
  }
  return packed;
}

template <typename T>
void call_distances(const detail::Variant& v, const T* C, std::size_t ldc, std::size_t rows,
                    std::size_t d, const T* packed, bool lower, T* acc, T* out);
template <>
void call_distances<double>(const detail::Variant& v, const double* C, std::size_t ldc,
                            std::size_t rows, std::size_t d, const double* packed, bool lower,
                            double* acc, double* out) {
  v.distances_f64(C, ldc, rows, d, packed, lower, acc, out);
}
template <>
void call_distances<float>(const detail::Variant& v, const float* C, std::size_t ldc,
                           std::size_t rows, std::size_t d, const float* packed, bool lower,
                           float* acc, float* out) {
  v.distances_f32(C, ldc, rows, d, packed, lower, acc, out);
}

// Centre rows [r0, r1) (through `index` when given) into `buf` as type U, ldc apart.
template <typename T, typename U, typename Mean>
void centre_rows(const MatrixView<T>& X, const std::int64_t* index, std::size_t r0,
                 std::size_t r1, const Mean* location, U* buf, std::size_t ldc) {
  const std::size_t d = X.cols;
  for (std::size_t r = r0; r < r1; ++r) {
    const std::size_t i = index ? static_cast<std::size_t>(index[r]) : r;
    U* dst = buf + (r - r0) * ldc;
    if (X.col_stride == 1) {
      const T* x = &X.at(i, 0);
      for (std::size_t k = 0; k < d; ++k) dst[k] = static_cast<U>(x[k]) - static_cast<U>(location[k]);
    } else {
      for (std::size_t k = 0; k < d; ++k) {
        dst[k] = static_cast<U>(X.at(i, k)) - static_cast<U>(location[k]);
      }
    }
  }
}

}  // namespace

template <typename T>
void squared_distances(const MatrixView<T>& X, const T* location, const T* factor, bool lower,
                       T* out, int threads) {
  const std::size_t n = X.rows, d = X.cols;
  if (n == 0) return;
  const detail::Variant& v = pick_variant();
  const std::size_t mr = static_cast<std::size_t>(v.mr);
  const std::size_t nr = static_cast<std::size_t>(sizeof(T) == 8 ? v.nr_f64 : v.nr_f32);
  const std::vector<T> packed = pack_panels(factor, d, nr, lower);
  const std::size_t ldc = d;
  const std::size_t rb = block_rows(d, sizeof(T), mr);
  const std::size_t n_blocks = (n + rb - 1) / rb;
  threads = useful_threads(threads, n_blocks, 0.5 * double(n) * double(d) * double(d));
  // Every buffer is allocated here, before the parallel region, so nothing in it can throw.
  const std::size_t lanes = 16;  // the widest vector any variant stores per row
  std::vector<T> bufs(static_cast<std::size_t>(threads) * rb * ldc, T(0));
  std::vector<T> accs(static_cast<std::size_t>(threads) * rb * lanes);
  std::vector<T> outs(static_cast<std::size_t>(threads) * rb);

#pragma omp parallel num_threads(threads)
  {
    const std::size_t t = static_cast<std::size_t>(omp_get_thread_num());
    T* buf = bufs.data() + t * rb * ldc;
    T* acc = accs.data() + t * rb * lanes;
    T* res = outs.data() + t * rb;
#pragma omp for schedule(static)
    for (std::size_t b = 0; b < n_blocks; ++b) {
      const std::size_t r0 = b * rb, r1 = std::min(n, r0 + rb);
      const std::size_t rows = round_up(r1 - r0, mr);
      centre_rows<T, T, T>(X, nullptr, r0, r1, location, buf, ldc);
      // Rows past the end of a short last block stay zero and are not copied out.
      std::fill(buf + (r1 - r0) * ldc, buf + rows * ldc, T(0));
      call_distances<T>(v, buf, ldc, rows, d, packed.data(), lower, acc, res);
      std::copy(res, res + (r1 - r0), out + r0);
    }
  }
}

template <typename T>
std::size_t comoment(const MatrixView<T>& X, const std::int64_t* rows, std::size_t n_rows,
                     double* mean, double* m2, int threads) {
  const std::size_t d = X.cols;
  const std::size_t n = rows ? n_rows : X.rows;
  std::fill(mean, mean + d, 0.0);
  std::fill(m2, m2 + d * d, 0.0);
  if (n == 0 || d == 0) return n;
  const detail::Variant& v = pick_variant();
  const std::size_t mr = static_cast<std::size_t>(v.mr);
  const std::size_t nr = static_cast<std::size_t>(v.nr_f64);
  // Columns past d are zero so the panel loads and row broadcasts of the last tiles read 0.
  const std::size_t ldc = round_up(round_up(d, mr), nr);
  const std::size_t rb = block_rows(ldc, sizeof(double), 1);
  const std::size_t n_blocks = (n + rb - 1) / rb;
  threads = useful_threads(threads, n_blocks, 0.5 * double(n) * double(d) * double(d));
  const std::size_t T_ = static_cast<std::size_t>(threads);
  std::vector<double> bufs(T_ * rb * ldc, 0.0);
  std::vector<double> part_m2(T_ * ldc * ldc, 0.0);  // upper triangle, ldc x ldc
  std::vector<double> part_mean(T_ * d, 0.0), block_mean(T_ * d), delta(T_ * d);
  std::vector<double> part_count(T_, 0.0);

#pragma omp parallel num_threads(threads)
  {
    const std::size_t t = static_cast<std::size_t>(omp_get_thread_num());
    double* buf = bufs.data() + t * rb * ldc;
    double* M = part_m2.data() + t * ldc * ldc;
    double* mu = part_mean.data() + t * d;
    double* bm = block_mean.data() + t * d;
    double* dl = delta.data() + t * d;
    double& count = part_count[t];
#pragma omp for schedule(static)
    for (std::size_t b = 0; b < n_blocks; ++b) {
      const std::size_t r0 = b * rb, r1 = std::min(n, r0 + rb);
      const double nb = static_cast<double>(r1 - r0);
      // The block's own mean first (exact, from cache), then its centred co-moment.
      std::fill(bm, bm + d, 0.0);
      for (std::size_t r = r0; r < r1; ++r) {
        const std::size_t i = rows ? static_cast<std::size_t>(rows[r]) : r;
        for (std::size_t k = 0; k < d; ++k) bm[k] += static_cast<double>(X.at(i, k));
      }
      for (std::size_t k = 0; k < d; ++k) bm[k] /= nb;
      centre_rows<T, double, double>(X, rows, r0, r1, bm, buf, ldc);
      v.gram_upper_f64(buf, ldc, r1 - r0, d, M);
      // Chan merge of this block into the thread's running statistics.
      const double w = chan_merge_mean(count, mu, nb, bm, dl, d);
      count += nb;
      for (std::size_t i = 0; i < d; ++i) {
        const double wi = w * dl[i];
        for (std::size_t j = i; j < d; ++j) M[i * ldc + j] += wi * dl[j];
      }
    }
  }
  // Merge the threads in a fixed order, so the result does not depend on timing.
  double total = 0;
  std::vector<double> dl(d);
  for (std::size_t t = 0; t < T_; ++t) {
    const double nb = part_count[t];
    if (nb == 0) continue;
    const double w = chan_merge_mean(total, mean, nb, part_mean.data() + t * d, dl.data(), d);
    total += nb;
    const double* M = part_m2.data() + t * ldc * ldc;
    for (std::size_t i = 0; i < d; ++i) {
      for (std::size_t j = i; j < d; ++j) m2[i * d + j] += M[i * ldc + j] + w * dl[i] * dl[j];
    }
  }
  for (std::size_t i = 0; i < d; ++i) {
    for (std::size_t j = 0; j < i; ++j) m2[i * d + j] = m2[j * d + i];
  }
  return n;
}

template void squared_distances<double>(const MatrixView<double>&, const double*, const double*,
                                        bool, double*, int);
template void squared_distances<float>(const MatrixView<float>&, const float*, const float*,
                                       bool, float*, int);
template std::size_t comoment<double>(const MatrixView<double>&, const std::int64_t*,
                                      std::size_t, double*, double*, int);
template std::size_t comoment<float>(const MatrixView<float>&, const std::int64_t*, std::size_t,
                                     double*, double*, int);

}  // namespace pipeward::mahalanobis
