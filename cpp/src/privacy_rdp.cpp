// Renyi-DP of the Poisson-subsampled Gaussian mechanism (the numbers behind RDPAccountant).
// Scalar double code: ~160 orders take well under a millisecond, so it needs no ISA variants.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "pipeward/privacy.hpp"

namespace pipeward::privacy {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double log_add(double a, double b) {
  const double lo = std::min(a, b), hi = std::max(a, b);
  if (lo == -kInf) return hi;
  return hi + std::log1p(std::exp(lo - hi));
}

// log(erfc(x)), accurate where erfc underflows (asymptotic series, relative error < 1e-10
// for x >= 25).
double log_erfc(double x) {
  if (x < 25.0) return std::log(std::erfc(x));
  const double r = 1.0 / (x * x);
  return -x * x - std::log(x) - 0.5 * std::log(M_PI) +
         std::log1p(r * (-0.5 + r * (0.75 + r * (-1.875 + r * 6.5625))));
}

// Integer order: log sum_i C(alpha, i) q^i (1-q)^(alpha-i) exp((i^2 - i) / (2 sigma^2)).
double log_a_int(double q, double sigma, long alpha) {
  const double lq = std::log(q), l1q = std::log1p(-q), inv2s2 = 0.5 / (sigma * sigma);
  std::vector<double> terms(static_cast<std::size_t>(alpha) + 1);
  double log_comb = 0.0, top = -kInf;
  for (long i = 0; i <= alpha; ++i) {
    const double di = static_cast<double>(i);
    const double t = log_comb + di * lq + (alpha - di) * l1q + (di * di - di) * inv2s2;
    terms[static_cast<std::size_t>(i)] = t;
    top = std::max(top, t);
    log_comb += std::log(static_cast<double>(alpha - i)) - std::log(di + 1.0);
  }
  double sum = 0.0;
  for (double t : terms) sum += std::exp(t - top);
  return top + std::log(sum);
}

// Fractional order: the two erfc series of Mironov et al. (2019) section 3.3, stopped when
// both term sequences decrease and are 30 nats below the total (dp-accounting's rule).
double log_a_frac(double q, double sigma, double alpha) {
  const double lq = std::log(q), l1q = std::log1p(-q), s2 = sigma * sigma;
  const double z0 = s2 * std::log(1.0 / q - 1.0) + 0.5;
  const double inv = 1.0 / (std::sqrt(2.0) * sigma), log_half = std::log(0.5);
  double a0 = -kInf, a1 = -kInf, last0 = -kInf, last1 = -kInf, log_comb = 0.0;
  for (int i = 0; i < 1000; ++i) {
    const double di = i, j = alpha - di;
    const double t0 = log_comb + di * lq + j * l1q;
    const double t1 = log_comb + j * lq + di * l1q;
    const double e0 = log_half + log_erfc((di - z0) * inv);
    const double e1 = log_half + log_erfc((z0 - j) * inv);
    const double s0 = t0 + (di * di - di) / (2.0 * s2) + e0;
    const double s1 = t1 + (j * j - j) / (2.0 * s2) + e1;
    a0 = log_add(a0, s0);
    a1 = log_add(a1, s1);
    const double total = log_add(a0, a1);
    if (s0 < last0 && s1 < last1 && std::max(s0, s1) < total - 30.0) return total;
    last0 = s0;
    last1 = s1;
    // |C(alpha, i+1)| = |C(alpha, i)| * |alpha - i| / (i + 1)
    log_comb += std::log(std::fabs(alpha - di)) - std::log(di + 1.0);
  }
  return kInf;  // did not converge: this order is dropped (epsilon ignores infinite RDP)
}

}  // namespace

void rdp_subsampled_gaussian(double q, double sigma, const double* orders, std::size_t n,
                             double* rdp) {
  for (std::size_t k = 0; k < n; ++k) {
    const double a = orders[k];
    if (q == 0.0) {
      rdp[k] = 0.0;
    } else if (sigma == 0.0 || std::isinf(a)) {
      rdp[k] = kInf;
    } else if (q == 1.0) {
      rdp[k] = a / (2.0 * sigma * sigma);
    } else if (a == std::floor(a) && a < 1e6) {
      rdp[k] = log_a_int(q, sigma, static_cast<long>(a)) / (a - 1.0);
    } else {
      rdp[k] = log_a_frac(q, sigma, a) / (a - 1.0);
    }
  }
}

}  // namespace pipeward::privacy
