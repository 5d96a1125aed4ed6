// The KS bucket sweep for any CPU (see drift_ks_sweep.hpp).
#include "drift_ks_sweep.hpp"

namespace pipeward::drift {

void ks_sweep_portable(const float* base, int64_t n, int64_t sample_stride, int64_t feature_stride,
                       int64_t count, const SweepMaps& maps, uint16_t* ids, uint32_t* counts) {
  ks_sweep_scalar(base, n, sample_stride, feature_stride, count, maps, ids, counts);
}

void ks_sweep_portable(const double* base, int64_t n, int64_t sample_stride,
                       int64_t feature_stride, int64_t count, const SweepMaps& maps,
                       uint16_t* ids, uint32_t* counts) {
  ks_sweep_scalar(base, n, sample_stride, feature_stride, count, maps, ids, counts);
}

void ks_sorted_ends_portable(const float* a, int64_t n, double lo, double scale, double last,
                             int64_t eps_bits, int64_t* end) {
  ks_sorted_ends_scalar(a, 0, n, lo, scale, last, eps_bits, end);
}

void ks_sorted_ends_portable(const double* a, int64_t n, double lo, double scale, double last,
                             int64_t eps_bits, int64_t* end) {
  ks_sorted_ends_scalar(a, 0, n, lo, scale, last, eps_bits, end);
}

int64_t ks_zoomed_portable(const float* base, int64_t n, int64_t sample_stride,
                           int64_t feature_stride, int64_t count, uint32_t active,
                           const SweepMaps& maps, const uint32_t* zoomed,
                           int64_t words_per_feature, int32_t* hit, double* position) {
  return ks_zoomed_scalar(base, 0, n, sample_stride, feature_stride, count, active, maps, zoomed,
                          words_per_feature, hit, position, 0);
}

int64_t ks_zoomed_portable(const double* base, int64_t n, int64_t sample_stride,
                           int64_t feature_stride, int64_t count, uint32_t active,
                           const SweepMaps& maps, const uint32_t* zoomed,
                           int64_t words_per_feature, int32_t* hit, double* position) {
  return ks_zoomed_scalar(base, 0, n, sample_stride, feature_stride, count, active, maps, zoomed,
                          words_per_feature, hit, position, 0);
}

int64_t ks_kept_portable(const uint16_t* ids, int64_t n, int64_t count, const uint32_t* kept,
                         int64_t words_per_feature, int64_t* out) {
  return ks_kept_scalar(ids, 0, n, count, kept, words_per_feature, out);
}

}  // namespace pipeward::drift
