// Device versions of the asymptotic KS p-value pieces that pipeward/drift.hpp keeps host-only
// (drift_kolmogorov.cpp: kolmogn_sf, smirnov_sf, long double). Same regions and formulas as
// the CPU code (scipy 1.17's choices), in double precision; the regions that need Durbin's
// matrix or the Pomeranz recursion (n <= 140, or tiny n x^2 with n <= 100000) return NaN and
// the launcher computes those few p-values on the host from the device statistics.
// These functions should move into drift.hpp as PIPEWARD_HD once the CPU side adopts them.
#pragma once

#include <cstdint>

#include "pipeward/drift.hpp"

namespace pipeward::drift_device {

PIPEWARD_HD double clip01(double p) { return p < 0.0 ? 0.0 : (p > 1.0 ? 1.0 : p); }

// log(n! / n^n) by Stirling's series.
PIPEWARD_HD double log_nfactorial_div_n_pow_n(double n) {
  const double c[8] = {-2.955065359477124183e-2, 6.4102564102564102564e-3,
                       -1.9175269175269175269e-3, 8.4175084175084175084e-4,
                       -5.952380952380952381e-4, 7.9365079365079365079e-4,
                       -2.7777777777777777778e-3, 8.3333333333333333333e-2};
  const double rn = 1.0 / n, x = rn / n;
  double poly = 0.0;
  for (int i = 0; i < 8; ++i) poly = poly * x + c[i];
  return log(n) / 2 - n + 0.91893853320467274178 + rn * poly;  // + log(2 pi) / 2
}

// P(D+_n >= x), scipy.special.smirnov: Birnbaum-Tingey sum in log space (double precision
// here; the host uses long double), with the same shortcuts as the CPU code.
PIPEWARD_HD double smirnov_sf(int64_t n, double x) {
  if (!(n > 0 && x >= 0.0 && x <= 1.0)) return nan("");
  if (n == 1) return 1.0 - x;
  if (x == 0.0) return 1.0;
  if (x == 1.0) return 0.0;
  const double dn = static_cast<double>(n);
  const double nx = dn * x;
  int64_t nxfl = static_cast<int64_t>(floor(nx));
  double alpha = nx - static_cast<double>(nxfl);
  if (alpha >= 1.0) { ++nxfl; alpha = 0.0; }
  if (nxfl == 0 || (nxfl == 1 && alpha == 0.0)) return clip01(1.0 - x * pow(1.0 + x, dn - 1));
  if (-2 * dn * x * x < -7.08396418532264106224E2) return 0.0;
  if (nxfl >= n - 1) return clip01(pow(1.0 - x, dn));
  if (n > 1000000) {
    const double logp = -pow(6.0 * dn * x + 1, 2) / 18.0 / dn;
    return clip01(logp < -0.69314718055994530942 ? exp(logp) : 1 - (-expm1(logp)));
  }
  const int64_t terms = n - nxfl;
  double log_binom = 0.0;  // log C(n, j), updated term by term
  double sum = 0.0, peak = 0.0;
  for (int64_t j = 0; j < terms; ++j) {
    const double dj = static_cast<double>(j);
    const double lo = (dn - nx - dj) / dn, hi = (nx + dj) / dn;
    const double term = exp(log_binom + (dn - dj) * log(lo) + (dj - 1) * log(hi));
    sum += term;
    peak = term > peak ? term : peak;
    if (term < peak && 4 * static_cast<double>(terms - j) * term < 2.220446049250313e-16 * sum * 1e-3) {
      break;
    }
    log_binom += log((dn - dj) / (dj + 1));
  }
  return clip01(x * sum);
}

// kstwo.sf(x, n) where the device can compute it; NaN where the host must (see file comment).
PIPEWARD_HD double kolmogn_sf(double n_real, double x) {
  if (n_real != n_real || x != x || !(n_real >= 1)) return nan("");
  if (x <= 0.5 / n_real) return 1.0;
  if (x >= 1.0) return 0.0;
  if (n_real <= 140) return nan("");
  const int64_t n = static_cast<int64_t>(n_real);
  const double dn = n_real;
  const double t = dn * x;
  if (t <= 1.0) {
    if (t <= 0.5) return 1.0;
    return clip01(1.0 - exp(log_nfactorial_div_n_pow_n(dn) + dn * log(2 * t - 1)));
  }
  if (t >= dn - 1) return clip01(2 * pow(1.0 - x, dn));
  if (x >= 0.5) return clip01(2 * smirnov_sf(n, x));
  const double nxsq = t * x;
  if (nxsq >= 370.0) return 0.0;
  if (nxsq >= 2.2) return clip01(2 * smirnov_sf(n, x));
  if (n <= 100000 && dn * pow(x, 1.5) <= 1.4) return nan("");  // Durbin's matrix: host
  return clip01(1.0 - pipeward::drift::pelz_good_cdf(dn, x));
}

// scipy's asymptotic p-value: two-sided kstwo.sf(d, round(en)), one-sided Hodges eq. 5.3.
// NaN where the two-sided value needs the host.
// (The formulas are pipeward/drift.hpp's, shared with the CPU kernel.)
PIPEWARD_HD double ks_asymp_pvalue(int64_t n1, int64_t n2, double d, bool two_sided) {
  if (two_sided) return kolmogn_sf(drift::ks_two_sided_asymp_n(n1, n2), d);
  return clip01(drift::ks_one_sided_asymp_pvalue(n1, n2, d));
}

}  // namespace pipeward::drift_device
