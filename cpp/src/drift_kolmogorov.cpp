// Distribution of the one-sample KS statistic D_n, used for the asymptotic two-sample p-value
// (scipy: kstwo.sf(D, round(n1 n2 / (n1 + n2)))). Simard & L'Ecuyer (2011) choose, by n and
// n x^2, between Ruben-Gambino's closed forms, Durbin's matrix (Marsaglia-Tsang-Wang), the
// Pomeranz recursion, the Pelz-Good series and twice the one-sided Smirnov tail; we follow
// scipy 1.17's choice of method region by region so the numbers agree.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "pipeward/drift.hpp"

namespace pipeward::drift {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kScaleExp = 128;  // rescale by 2^128 to keep the matrix powers in range

inline double clip01(double p) { return std::min(std::max(p, 0.0), 1.0); }

// log(n! / n^n) by Stirling's series.
double log_nfactorial_div_n_pow_n(double n) {
  static const double c[] = {-2.955065359477124183e-2, 6.4102564102564102564e-3,
                             -1.9175269175269175269e-3, 8.4175084175084175084e-4,
                             -5.952380952380952381e-4, 7.9365079365079365079e-4,
                             -2.7777777777777777778e-3, 8.3333333333333333333e-2};
  const double rn = 1.0 / n, x = rn / n;
  double poly = 0.0;
  for (double ci : c) poly = poly * x + ci;
  return std::log(n) / 2 - n + std::log(2 * M_PI) / 2 + rn * poly;
}

// Durbin's matrix method, MTW form: P(D_n <= d) = n!/n^n [H^n]_{kk}.
double durbin_cdf(int64_t n, double d) {
  if (d >= 1.0) return 1.0;
  const double nd = static_cast<double>(n) * d;
  if (nd <= 0.5) return 0.0;
  const int64_t k = static_cast<int64_t>(std::ceil(nd));
  const double h = static_cast<double>(k) - nd;
  const int64_t m = 2 * k - 1;
  std::vector<double> v(m), w(m), H(m * m, 0.0), P(m * m, 0.0), T(m * m);
  double fac = 1.0;
  for (int64_t j = 1; j <= m; ++j) {
    w[j - 1] = fac;
    fac /= static_cast<double>(j);
    v[j - 1] = (1.0 - std::pow(h, static_cast<double>(j))) * fac;
  }
  const double tt = std::pow(std::max(2 * h - 1.0, 0.0), static_cast<double>(m)) -
                    2 * std::pow(h, static_cast<double>(m));
  v[m - 1] = (1.0 + tt) * fac;
  for (int64_t i = 1; i < m; ++i)
    for (int64_t r = i - 1; r < m; ++r) H[r * m + i] = w[r - (i - 1)];
  for (int64_t r = 0; r < m; ++r) H[r * m] = v[r];
  for (int64_t c = 0; c < m; ++c) H[(m - 1) * m + c] = v[m - 1 - c];
  for (int64_t r = 0; r < m; ++r) P[r * m + r] = 1.0;

  auto matmul = [m, &T](const std::vector<double>& A, const std::vector<double>& B,
                        std::vector<double>& C) {
    std::fill(T.begin(), T.end(), 0.0);
    for (int64_t r = 0; r < m; ++r)
      for (int64_t s = 0; s < m; ++s) {
        const double a = A[r * m + s];
        if (a == 0.0) continue;
        for (int64_t c = 0; c < m; ++c) T[r * m + c] += a * B[s * m + c];
      }
    C.swap(T);
    T.resize(m * m);
  };
  int64_t expnt = 0, hexpnt = 0;
  const double big = std::ldexp(1.0, kScaleExp), small = std::ldexp(1.0, -kScaleExp);
  for (int64_t nn = n; nn > 0; nn /= 2) {
    if (nn % 2) {
      matmul(P, H, P);
      expnt += hexpnt;
    }
    matmul(H, H, H);
    hexpnt *= 2;
    if (std::fabs(H[(k - 1) * m + (k - 1)]) > big) {
      for (double& x : H) x /= big;
      hexpnt += kScaleExp;
    }
  }
  double p = P[(k - 1) * m + (k - 1)];
  const double dn = static_cast<double>(n);
  for (int64_t i = 1; i <= n; ++i) {
    p = static_cast<double>(i) * p / dn;
    if (std::fabs(p) < small) {
      p *= big;
      expnt -= kScaleExp;
    }
  }
  if (expnt != 0) p = std::ldexp(p, static_cast<int>(expnt));
  return clip01(p);
}

// Row i's column range [j1, j2] in the Pomeranz recursion.
void pomeranz_range(int64_t i, int64_t n, int64_t ll, int64_t ceilf, int64_t roundf, int64_t* j1,
                    int64_t* j2) {
  int64_t a, b;
  if (i == 0) {
    a = -ll - ceilf - 1;
    b = ll + ceilf - 1;
  } else {
    const int64_t half = (i + 1) / 2;
    if ((i + 1) % 2 == 0) {
      if (half == n + 1) {
        a = n - ll - ceilf - 1;
        b = n + ll + ceilf - 1;
      } else {
        a = half - 1 - ll - roundf - 1;
        b = half + ll - 1 + ceilf - 1;
      }
    } else {
      a = half - 1 - ll - 1;
      b = half + ll + roundf - 1;
    }
  }
  *j1 = std::max<int64_t>(a + 2, 0);
  *j2 = std::min<int64_t>(b, n);
}

// Pomeranz (1974): P(D_n <= x) by convolving rows of a band of Poisson-like weights.
double pomeranz_cdf(int64_t n, double x) {
  const double dn = static_cast<double>(n);
  const double t = dn * x;
  const int64_t ll = static_cast<int64_t>(std::floor(t));
  const double f = t - static_cast<double>(ll);
  const double g = std::min(f, 1.0 - f);
  const int64_t ceilf = f > 0 ? 1 : 0, roundf = f > 0.5 ? 1 : 0;
  const int64_t npwrs = 2 * (ll + 1);
  std::vector<double> gp(npwrs), g2p(npwrs), g12p(npwrs);
  gp[0] = g2p[0] = g12p[0] = 1.0;
  const double a1 = g / dn, a2 = 2 * g / dn, a3 = (1 - 2 * g) / dn;
  for (int64_t m = 1; m < npwrs; ++m) {
    const double dm = static_cast<double>(m);
    gp[m] = gp[m - 1] * a1 / dm;
    g2p[m] = g2p[m - 1] * a2 / dm;
    g12p[m] = g12p[m - 1] * a3 / dm;
  }
  std::vector<double> V0(npwrs, 0.0), V1(npwrs, 0.0);
  V1[0] = 1.0;
  int64_t V0s = 0, V1s = 0, expnt = 0;
  int64_t j1, j2;
  pomeranz_range(0, n, ll, ceilf, roundf, &j1, &j2);
  const double small = std::ldexp(1.0, -kScaleExp), big = std::ldexp(1.0, kScaleExp);
  for (int64_t i = 1; i < 2 * n + 2; ++i) {
    const int64_t k1 = j1;
    std::swap(V0, V1);
    std::swap(V0s, V1s);
    std::fill(V1.begin(), V1.end(), 0.0);
    pomeranz_range(i, n, ll, ceilf, roundf, &j1, &j2);
    const std::vector<double>& pw = (i == 1 || i == 2 * n + 1) ? gp : (i % 2 ? g2p : g12p);
    const int64_t len = j2 - k1 + 1;
    if (len > 0) {
      // conv = full convolution of V0[k1-V0s : k1-V0s+len] (clipped at the end) with pw[:len].
      const int64_t a0 = k1 - V0s;
      const int64_t alen = std::max<int64_t>(std::min<int64_t>(a0 + len, npwrs) - a0, 0);
      const int64_t plen = std::min(len, npwrs);
      const int64_t start = j1 - k1, count = j2 - j1 + 1;
      double vmax = 0.0;
      for (int64_t c = 0; c < count; ++c) {
        const int64_t idx = start + c;
        double s = 0.0;
        const int64_t lo = std::max<int64_t>(0, idx - (plen - 1));
        const int64_t hi = std::min<int64_t>(alen - 1, idx);
        for (int64_t q = lo; q <= hi; ++q) {
          if (a0 + q >= 0) s += V0[a0 + q] * pw[idx - q];  // the slice never starts below 0
        }
        V1[c] = s;
        vmax = std::max(vmax, s);
      }
      if (vmax > 0 && vmax < small) {
        for (double& v : V1) v *= big;
        expnt -= kScaleExp;
      }
      V1s = V0s + j1 - k1;
    }
  }
  if (n - V1s < 0 || n - V1s >= npwrs) return kNaN;  // outside the band: cannot happen
  double ans = V1[n - V1s];
  for (int64_t m = 1; m <= n; ++m) {
    if (std::fabs(ans) > big) {
      ans *= small;
      expnt += kScaleExp;
    }
    ans *= static_cast<double>(m);
  }
  if (expnt != 0) ans = std::ldexp(ans, static_cast<int>(expnt));
  return clip01(ans);
}

}  // namespace

double smirnov_sf(int64_t n, double x) {
  // P(D+_n >= x) = x sum_{j < n(1-x)} C(n, j) (1 - x - j/n)^(n-j) (x + j/n)^(j-1)
  // (Birnbaum & Tingey 1951). Every term is positive, so each is evaluated in log space in
  // extended precision and summed; the binomial is carried as mantissa and exponent.
  if (!(n > 0 && x >= 0.0 && x <= 1.0)) return kNaN;
  if (n == 1) return 1.0 - x;
  if (x == 0.0) return 1.0;
  if (x == 1.0) return 0.0;
  const long double ln = static_cast<long double>(n), lx = x;
  const long double nx = ln * lx;
  int64_t nxfl = static_cast<int64_t>(std::floor(nx));
  long double alpha = nx - static_cast<long double>(nxfl);
  if (alpha >= 1.0L) { ++nxfl; alpha = 0.0L; }
  const double dn = static_cast<double>(n);
  if (nxfl == 0 || (nxfl == 1 && alpha == 0.0L)) {  // x <= 1/n: one term
    return clip01(1.0 - x * std::pow(1.0 + x, dn - 1));
  }
  if (-2 * dn * x * x < -7.08396418532264106224E2) return 0.0;
  if (nxfl >= n - 1) return clip01(std::pow(1.0 - x, dn));
  if (n > 1000000) {  // scipy's large-n approximation p ~ exp(-(6nx+1)^2 / 18n)
    const double logp = -std::pow(6.0 * dn * x + 1, 2) / 18.0 / dn;
    return clip01(logp < -M_LN2 ? std::exp(logp) : 1 - (-std::expm1(logp)));
  }
  const int64_t terms = n - nxfl;  // j with 1 - x - j/n > 0
  long double cman = 1.0L;         // C(n, j) = cman * 2^cexp
  int64_t cexp = 0;
  long double sum = 0.0L, peak = 0.0L, term = 0.0L;
  const long double ln2 = 0.693147180559945309417232121458176568L;
  // Every kCheckpoint-th term is evaluated from scratch in extended precision; the ones between
  // by the ratio of consecutive terms, whose exponent is O(1) and so good to a few ulps in
  // double (a run of 32 ratios stays within ~1e-14), at a third of the cost.
  constexpr int64_t kCheckpoint = 32;
  const double dnx = static_cast<double>(nx);
  for (int64_t j = 0; j < terms; ++j) {
    const long double lj = static_cast<long double>(j);
    if (j % kCheckpoint == 0) {
      const long double lo = (ln - nx - lj) / ln, hi = (nx + lj) / ln;  // 1-x-j/n, x+j/n
      const long double logt = std::log(cman) + static_cast<long double>(cexp) * ln2 +
                               (ln - lj) * std::log(lo) + (lj - 1) * std::log(hi);
      term = std::exp(logt);
    }
    sum += term;
    peak = std::max(peak, term);
    // Past the peak the terms only shrink: stop once the rest cannot reach an ulp.
    if (term < peak && 4 * static_cast<long double>(terms - j) * term <
                           std::numeric_limits<double>::epsilon() * sum * 1e-3L) {
      break;
    }
    int e;
    cman = std::frexp(cman * (ln - lj) / (lj + 1), &e);
    cexp += e;
    if ((j + 1) % kCheckpoint != 0 && j + 1 < terms) {
      // t_{j+1} / t_j = (n-j)/(j+1) (v+1)/u (1 - 1/u)^(n-j-1) (1 + 1/v)^(j-1),
      // with u = n (1 - x - j/n) > 1 here and v = n (x + j/n).
      const double dj = static_cast<double>(j);
      const double u = (dn - dnx) - dj, v = dnx + dj;
      const double ratio = (dn - dj) / (dj + 1) * ((v + 1) / u) *
                           std::exp((dn - dj - 1) * std::log1p(-1 / u) + (dj - 1) * std::log1p(1 / v));
      term *= ratio;
    }
  }
  return clip01(static_cast<double>(lx * sum));
}

double kolmogn_sf(double n_real, double x) {
  if (std::isnan(n_real) || std::isnan(x)) return kNaN;
  if (!(n_real >= 1) || n_real != std::round(n_real)) return kNaN;
  // kstwo's support is [0.5/n, 1].
  if (x <= 0.5 / n_real) return 1.0;
  if (x >= 1.0) return 0.0;
  const int64_t n = static_cast<int64_t>(n_real);
  const double dn = n_real;
  const double t = dn * x;
  if (t <= 1.0) {  // Ruben-Gambino: 1/2n < x <= 1/n
    if (t <= 0.5) return 1.0;
    double prob;
    if (n <= 140) {
      prob = 1.0;
      for (int64_t i = 1; i <= n; ++i) prob *= static_cast<double>(i) * (1.0 / dn) * (2 * t - 1);
    } else {
      prob = std::exp(log_nfactorial_div_n_pow_n(dn) + dn * std::log(2 * t - 1));
    }
    return clip01(1.0 - prob);
  }
  if (t >= dn - 1) return clip01(2 * std::pow(1.0 - x, dn));  // Ruben-Gambino
  if (x >= 0.5) return clip01(2 * smirnov_sf(n, x));
  const double nxsq = t * x;
  if (n <= 140) {
    if (nxsq <= 0.754693) return clip01(1.0 - durbin_cdf(n, x));
    if (nxsq <= 4) return clip01(1.0 - pomeranz_cdf(n, x));
    return clip01(2 * smirnov_sf(n, x));
  }
  if (nxsq >= 370.0) return 0.0;
  if (nxsq >= 2.2) return clip01(2 * smirnov_sf(n, x));
  double cdf;
  if (n <= 100000 && dn * std::pow(x, 1.5) <= 1.4) {
    cdf = durbin_cdf(n, x);
  } else {
    cdf = pelz_good_cdf(dn, x);
  }
  return clip01(1.0 - cdf);
}

double ks_asymp_pvalue(int64_t n1, int64_t n2, double d, Alternative alt) {
  const double prob = alt == Alternative::two_sided
                          ? kolmogn_sf(ks_two_sided_asymp_n(n1, n2), d)
                          : ks_one_sided_asymp_pvalue(n1, n2, d);
  return std::isnan(prob) ? prob : clip01(prob);
}

}  // namespace pipeward::drift
