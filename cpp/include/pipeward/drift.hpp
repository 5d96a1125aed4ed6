// Drift statistics: batched two-sample Kolmogorov-Smirnov (scipy.stats.ks_2samp conventions)
// and Population Stability Index histograms. The C++ API works on raw pointers; the per-element
// math that a GPU kernel needs too (the ECDF gap at a merge step, the PSI bin search and term,
// the Pelz-Good series) sits in PIPEWARD_HD inline functions so both sides compute the same bits.
#pragma once

#include <cmath>
#include <cstdint>

#include "pipeward/common.hpp"

namespace pipeward::drift {

// The definitions below are the family's single source: the CPU kernels and cuda/drift.cu
// include them, and the bindings export them to Python (_core.KsAlternative, KsMethod,
// KsStatus, drift_ks_max_auto_n), so no rule is written twice.

// The values cross the binding as these enums; CUDA kernels take them as int.
enum class Alternative : int { two_sided = 0, less = 1, greater = 2 };
enum class Method : int { automatic = 0, exact = 1, asymp = 2 };

// Why a feature's p-value is not what its method asked for (scipy warns in both cases).
enum class KsStatus : int32_t {
  ok = 0,
  lcm_too_large = 1,     // method="exact" but lcm(n1, n2) >= 2^31: asymptotic p instead
  exact_failed = 2,      // the exact recursion over/underflowed: asymptotic p instead
  nan_input = 3,         // nan_policy="propagate" and the feature holds a NaN
  empty = 4,             // nan_policy="omit" left a sample empty
  // Only between cuda/drift.cu and its launcher: the device left this feature's p-value to
  // the host (exact p-values; the Durbin-matrix corner of the asymptotic one).
  host_exact = 8,
  host_asymp = 9,
};

// scipy's method="auto": exact p-values while the larger sample holds at most this many values.
constexpr int64_t kMaxAutoN = 10000;

// Whether `method` asks for the exact p-value for samples of n1 and n2 values (method="exact"
// may still fall back, see KsStatus).
PIPEWARD_HD bool ks_wants_exact(Method method, int64_t n1, int64_t n2) {
  return method == Method::exact ||
         (method == Method::automatic && (n1 > n2 ? n1 : n2) <= kMaxAutoN);
}

// The one-sided asymptotic p-value, Hodges (1958) eq. 5.3 with m the larger sample, unclipped.
PIPEWARD_HD double ks_one_sided_asymp_pvalue(int64_t n1, int64_t n2, double d) {
  const double m = static_cast<double>(n1 > n2 ? n1 : n2);
  const double n = static_cast<double>(n1 > n2 ? n2 : n1);
  const double z = std::sqrt(m * n / (m + n)) * d;
  return std::exp(-2 * (z * z) - 2 * z * (m + 2 * n) / std::sqrt(m * n * (m + n)) / 3.0);
}

// The two-sided asymptotic p-value's sample size: kstwo.sf(d, round(m n / (m + n))), rounded
// half to even as NumPy does (nearbyint).
PIPEWARD_HD double ks_two_sided_asymp_n(int64_t n1, int64_t n2) {
  const double m = static_cast<double>(n1 > n2 ? n1 : n2);
  const double n = static_cast<double>(n1 > n2 ? n2 : n1);
  return std::nearbyint(m * n / (m + n));
}

// ECDF difference F1(v) - F2(v) after i of n1 and j of n2 sorted values are <= v, rounded as
// NumPy rounds searchsorted(...)/n1 - searchsorted(...)/n2 (two divisions, one subtraction).
PIPEWARD_HD double ecdf_gap(int64_t i, int64_t n1, int64_t j, int64_t n2) {
  return static_cast<double>(i) / static_cast<double>(n1) -
         static_cast<double>(j) / static_cast<double>(n2);
}

// Index of the PSI bin holding v for interior edges e[0] < ... < e[k-1]: the number of edges
// <= v, so bins are [e[b-1], e[b]) with open-ended tails (bin 0 and bin k).
template <typename T>
PIPEWARD_HD int64_t psi_bin(T v, const double* edges, int64_t k) {
  const double x = static_cast<double>(v);
  if (k <= 32) {  // the usual 10-20 bins: count the edges, no branch to mispredict
    int64_t count = 0;
    for (int64_t e = 0; e < k; ++e) count += edges[e] <= x;
    return count;
  }
  int64_t lo = 0, len = k;  // branch-free upper bound
  while (len > 0) {
    const int64_t half = len / 2;
    const bool right = edges[lo + half] <= x;
    lo = right ? lo + half + 1 : lo;
    len = right ? len - half - 1 : half;
  }
  return lo;
}

// One bin's PSI contribution (a - e) * ln(a / e) for proportions already floored by eps.
PIPEWARD_HD double psi_term(double actual, double expected) {
  return (actual - expected) * std::log(actual / expected);
}

// Result of the KS merge for one feature.
struct KsStat {
  double dplus = 0.0;        // max over values of F1 - F2
  double dminus = 0.0;       // clip(-min over values of F1 - F2, 0, 1)
  double loc_plus = 0.0;     // first value (sample 1 before sample 2) attaining dplus
  double loc_minus = 0.0;    // first value attaining the minimum
  int64_t n1 = 0, n2 = 0;    // sample sizes after NaN omission
  KsStatus status = KsStatus::ok;
};

// Batched ks_2samp output for F features.
struct KsOut {
  double* statistic;
  double* pvalue;
  double* location;
  double* sign;       // +1 / -1, NaN where the feature is NaN
  int64_t* n1;
  int64_t* n2;
  int32_t* status;    // KsStatus per feature
};

// A sample laid out as F features of up to n values: value s of feature f is at
// data[f * feature_stride + s * sample_stride] (strides in elements, so any NumPy view works).
template <typename T>
struct Samples {
  const T* data;
  int64_t n_features;
  int64_t n;
  int64_t feature_stride;
  int64_t sample_stride;
  // Set when each feature row is already sorted ascending with its NaNs at the end (NumPy's
  // np.sort order; rows contiguous): no copy, no sort.
  bool presorted = false;
};

// A fitted reference's bucket maps and run ends for one bucket count (ks_reference_buckets),
// computed once and reused for every window of that size.
struct ReferenceBuckets {
  int64_t buckets;
  const double* lo;         // per feature
  const double* scale;      // per feature
  const int64_t* eps_bits;  // per feature; -1: equal width in v
  const int64_t* ends;      // features x buckets: 1 + the last sorted index in each bucket
};

// The whole ks_2samp for every feature: statistic, p-value, location, sign, per scipy 1.17.
// reference (optional) must come from ks_reference_buckets(x1, ks_bucket_count(x1.n, x2.n)).
template <typename T>
void ks_2samp(const Samples<T>& x1, const Samples<T>& x2, Alternative alt, Method method,
              bool omit_nan, const KsOut& out, int threads,
              const ReferenceBuckets* reference = nullptr);

// The bucket count the bucketed statistic uses for samples of n1 and n2 values.
int64_t ks_bucket_count(int64_t n1, int64_t n2);

// For sorted rows x1 (NaNs last): each feature's bucket map, chosen on x1 alone, and its run
// ends for `buckets` buckets (ends: features x buckets).
template <typename T>
void ks_reference_buckets(const Samples<T>& x1, int64_t buckets, double* lo, double* scale,
                          int64_t* eps_bits, int64_t* ends, int threads);

// Whether ks_2samp takes samples of n1 and n2 values unsorted (the bucketed statistic of
// drift_ks_buckets.cpp: large enough to gain, small enough for 32-bit bucket offsets and exact
// integer gap keys); otherwise it sorts them, and callers with a faster sort may do it first.
bool ks_bucketed_applies(int64_t n1, int64_t n2);

// Copy a strided (features, samples) view into out (features x n, C order) in cache-sized
// tiles: a transposing gather that reads each cache line of a (rows, features) table once.
template <typename T>
void gather_rows(const Samples<T>& x, T* out, int threads);

// The statistic alone for one feature, from two ascending NaN-free arrays.
template <typename T>
KsStat ks_merge(const T* a, int64_t n1, const T* b, int64_t n2);

// Sort values ascending in place (LSD radix on order-preserving keys; NaN-free input).
template <typename T>
void sort_values(T* values, int64_t n, void* scratch);

// ---- p-values (drift_ks_exact.cpp, drift_kolmogorov.cpp) ----

// Exact P(D >= h / lcm(n1, n2)) by the lattice-path recursions scipy uses; returns false when
// scipy's attempt fails (non-finite or out of [0, 1]) so the caller falls back to asymptotic.
bool ks_exact_pvalue(int64_t n1, int64_t n2, int64_t h, Alternative alt, double* p);

// P(D_{n,n} >= h/n), two-sided, equal sizes (Gnedenko-Korolyuk alternating sum, Horner form).
double ks_prob_outside_square(int64_t n, int64_t h);
// P(D_{m,n} >= h/lcm), two-sided: Hodges' inside method, recursing 1 - p (Viehmann 2021).
double ks_prob_outside_band(int64_t m, int64_t n, int64_t g, int64_t h);
// P(D+_{m,n} >= h/lcm), one-sided, by the same normalised recursion with one boundary.
double ks_prob_cross_line(int64_t m, int64_t n, int64_t g, int64_t h);

// Asymptotic p-value with scipy's formulas: two-sided kstwo.sf(d, round(n1 n2 / (n1 + n2))),
// one-sided Hodges' eq. 5.3.
double ks_asymp_pvalue(int64_t n1, int64_t n2, double d, Alternative alt);

// Survival function of the two-sided one-sample statistic D_n (kstwo.sf; Simard & L'Ecuyer).
double kolmogn_sf(double n, double x);
// One-sided survival P(D+_n >= x) (scipy.special.smirnov).
double smirnov_sf(int64_t n, double x);

// Pelz-Good approximation of P(D_n <= x) (Simard & L'Ecuyer 2011, eq. for n > 140).
PIPEWARD_HD double pelz_good_cdf(double n, double x) {
  const double kPi = 3.14159265358979323846;
  const double kPi2 = kPi * kPi, kPi4 = kPi2 * kPi2, kPi6 = kPi4 * kPi2;
  const double kSqrt2Pi = 2.5066282746310002;  // sqrt(2 pi)
  const double kSqrt3 = 1.7320508075688772;
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  const double z = std::sqrt(n) * x;
  const double z2 = z * z, z3 = z * z * z, z4 = z2 * z2, z6 = z2 * z2 * z2;
  const double qlog = -kPi2 / 8 / z2;
  if (qlog < -708) return 0.0;
  double q = std::exp(qlog);
  const double k1a = -z2, k1b = kPi2 / 4;
  const double k2a = 6 * z6 + 2 * z4, k2b = (2 * z4 - 5 * z2) * kPi2 / 4,
               k2c = kPi4 * (1 - 2 * z2) / 16;
  const double k3d = kPi6 * (5 - 30 * z2) / 64, k3c = kPi4 * (-60 * z2 + 212 * z4) / 16,
               k3b = kPi2 * (135 * z4 - 96 * z6) / 4,
               k3a = -30 * z6 - 90 * std::pow(z, 8);
  double K[4] = {0, 0, 0, 0};
  const int64_t maxk = static_cast<int64_t>(std::ceil(16 * z / kPi));
  for (int64_t k = maxk; k > 0; --k) {
    const double m = static_cast<double>(2 * k - 1);
    const double m2 = m * m, m4 = m2 * m2, m6 = m4 * m2;
    const double qp = std::pow(q, static_cast<double>(8 * k));
    const double c[4] = {1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4,
                         k3a + k3b * m2 + k3c * m4 + k3d * m6};
    for (int t = 0; t < 4; ++t) K[t] = K[t] * qp + c[t];
  }
  const double div[4] = {z, 6 * z4, 72 * std::pow(z, 7), 6480 * std::pow(z, 10)};
  for (int t = 0; t < 4; ++t) K[t] = K[t] * q * kSqrt2Pi / div[t];
  q = std::exp(-kPi2 / 2 / z2);
  double k2extra = 0.0, k3extra = 0.0;
  const double s3z = kSqrt3 * z;
  for (int64_t k = maxk; k > 0; --k) {
    const double kk = static_cast<double>(k * k);
    const double qp = std::pow(q, kk);
    const double kpi = kPi * static_cast<double>(k);
    k2extra += kk * qp;
    k3extra += (s3z + kpi) * (s3z - kpi) * kk * qp;
  }
  K[2] += k2extra * (kPi2 * kSqrt2Pi / (-36 * z3));
  K[3] += k3extra * (kPi2 * kSqrt2Pi / (216 * z6));
  double sum = 0.0;
  for (int t = 0; t < 4; ++t) sum += K[t] / std::pow(n, t / 2.0);
  return sum;
}

// ---- PSI histograms (drift_psi.cpp) ----

// counts[f * (k + 2) + b] += number of values of feature f in bin b (b = 0..k, see psi_bin);
// NaNs go to the extra last bin k + 1. Counts accumulate, so partitions add up.
template <typename T>
void psi_counts(const Samples<T>& x, const double* edges, int64_t k, int64_t edge_stride,
                int64_t* counts, int threads);

// ---- the CUDA kernels of cuda/drift.cu (see PIPEWARD_CHECK_CUDA_KERNEL in common.hpp) ------

// KS per feature on sorted samples: s1, n1, s2, n2, n_features, alternative, method, omit_nan,
// then the outputs statistic, pvalue, location, sign, used1, used2, status.
template <typename T>
using KsSortedKernel = void(const T*, int64_t, const T*, int64_t, int64_t, int, int, int,
                            double*, double*, double*, double*, int64_t*, int64_t*, int32_t*);
// PSI bin counts: x, n_features, n, feature_stride, sample_stride, edges, k, edge_stride,
// slices, counts.
template <typename T>
using PsiCountsKernel = void(const T*, int64_t, int64_t, int64_t, int64_t, const double*,
                             int64_t, int64_t, int64_t, unsigned long long*);

}  // namespace pipeward::drift

#define PIPEWARD_DRIFT_CUDA_KERNELS(X)                                                 \
  X(drift_ks_2samp_sorted_f32, ::pipeward::drift::KsSortedKernel<float>)               \
  X(drift_ks_2samp_sorted_f64, ::pipeward::drift::KsSortedKernel<double>)              \
  X(drift_psi_counts_by_feature_f32, ::pipeward::drift::PsiCountsKernel<float>)        \
  X(drift_psi_counts_by_feature_f64, ::pipeward::drift::PsiCountsKernel<double>)       \
  X(drift_psi_counts_by_row_f32, ::pipeward::drift::PsiCountsKernel<float>)            \
  X(drift_psi_counts_by_row_f64, ::pipeward::drift::PsiCountsKernel<double>)
