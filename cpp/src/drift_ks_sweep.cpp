// The KS bucket sweep for any CPU (see drift_ks_sweep.hpp).
#include "drift_ks_sweep.hpp"

namespace pipeward::drift {

void ks_sweep_portable(const float* base, int64_t n, int64_t sample_stride, int64_t feature_stride,
                       int64_t count, const SweepMaps& maps, uint16_t* ids, uint32_t* counts) {
  ks_sweep_scalar(base, n, sample_stride, feature_stride, count, maps, 0, ids, counts);
}

void ks_sweep_portable(const double* base, int64_t n, int64_t sample_stride,
                       int64_t feature_stride, int64_t count, const SweepMaps& maps,
                       uint16_t* ids, uint32_t* counts) {
  ks_sweep_scalar(base, n, sample_stride, feature_stride, count, maps, 0, ids, counts);
}

void ks_sorted_ends_portable(const float* a, int64_t n, double lo, double scale, double last,
                             int64_t eps_bits, int64_t* end) {
  ks_sorted_ends_scalar(a, 0, n, lo, scale, last, eps_bits, end);
}

void ks_sorted_ends_portable(const double* a, int64_t n, double lo, double scale, double last,
                             int64_t eps_bits, int64_t* end) {
  ks_sorted_ends_scalar(a, 0, n, lo, scale, last, eps_bits, end);
}

}  // namespace pipeward::drift
