// Exact two-sample KS p-values by lattice-path counting (Hodges 1958, after Drion, Gnedenko and
// Korolyuk). A sample ordering is a monotone path from (0, 0) to (m, n); D >= h/lcm(m, n) exactly
// when the path touches |x*n/g - y*m/g| >= h. The recursions keep the arithmetic of scipy 1.17 so
// that both round the same way.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "pipeward/drift.hpp"

namespace pipeward::drift {

namespace {

inline int64_t floor_div(int64_t a, int64_t b) {  // b > 0
  const int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

inline int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

// log C(a + b, a): used only to predict whether scipy's binomial overflows a double.
inline double log_binom(int64_t a, int64_t b) {
  return std::lgamma(static_cast<double>(a + b + 1)) - std::lgamma(static_cast<double>(a + 1)) -
         std::lgamma(static_cast<double>(b + 1));
}

}  // namespace

double ks_prob_outside_square(int64_t n, int64_t h) {
  // P(D_{n,n} >= h/n) = 2 sum_{k>=1} (-1)^(k-1) C(2n, n-kh) / C(2n, n), written as
  // 2 A1 (1 - A2 (1 - A3 (...))) with A_k the ratio of consecutive terms, so that no large
  // binomial and no cancellation appears.
  double P = 0.0;
  for (int64_t k = n / h; k >= 0; --k) {
    double ratio = 1.0;
    for (int64_t j = 0; j < h; ++j) {
      ratio = static_cast<double>(n - k * h - j) * ratio / static_cast<double>(n + k * h + j + 1);
    }
    P = ratio * (1.0 - P);
  }
  return 2 * P;
}

double ks_prob_outside_band(int64_t m, int64_t n, int64_t g, int64_t h) {
  // R(i, j) = share of paths to (i, j) that have left the band |i*ng - j*mg| < h. Inside the
  // band R(i, j) = (i R(i-1, j) + j R(i, j-1)) / (i + j) (path counts divided by C(i+j, j));
  // on and beyond the boundary R = 1. One column of R is kept; j runs over the smaller sample.
  // Each cell waits on the division before it, so four columns are swept together, each one
  // row behind the previous: four independent division chains, the same arithmetic per cell.
  if (m < n) std::swap(m, n);
  const int64_t mg = m / g, ng = n / g;
  std::vector<double> R(static_cast<size_t>(n + 1), 1.0);
  int64_t maxj = std::min(ceil_div(h, mg), n + 1);
  for (int64_t j = 0; j < maxj; ++j) R[j] = 0.0;
  auto window = [&](int64_t i, int64_t* lo, int64_t* hi) {
    *lo = std::min(std::max(floor_div(ng * i - h, mg) + 1, int64_t(0)), n);
    *hi = std::min(ceil_div(ng * i + h, mg), n + 1);
  };
  constexpr int64_t kLanes = 4;
  int64_t i = 1;
  for (; i + kLanes - 1 <= m; i += kLanes) {
    // Column i + c handles row j - c at step j: it reads column i + c - 1 at that row, which
    // the column before finished one step earlier.
    int64_t lo[kLanes], hi[kLanes];
    double v[kLanes], di[kLanes];
    for (int64_t c = 0; c < kLanes; ++c) {
      window(i + c, &lo[c], &hi[c]);
      if (hi[c] <= lo[c]) return 1.0;
      v[c] = lo[c] == 0 ? 0.0 : 1.0;
      di[c] = static_cast<double>(i + c);
    }
    const int64_t end = std::max(hi[0], hi[kLanes - 1] + kLanes - 1);
    for (int64_t j = lo[0]; j < end; ++j) {
      for (int64_t c = 0; c < kLanes; ++c) {
        const int64_t r = j - c;
        if (r >= lo[c] && r < hi[c]) {
          v[c] = (R[r] * di[c] + v[c] * static_cast<double>(r)) / static_cast<double>(i + c + r);
          R[r] = v[c];
        }
      }
    }
    maxj = hi[kLanes - 1];
  }
  for (; i <= m; ++i) {
    int64_t lo, hi;
    window(i, &lo, &hi);
    if (hi <= lo) return 1.0;
    double val = lo == 0 ? 0.0 : 1.0;
    const double di = static_cast<double>(i);
    for (int64_t j = lo; j < hi; ++j) {
      val = (R[j] * di + val * static_cast<double>(j)) / static_cast<double>(i + j);
      R[j] = val;
    }
    maxj = hi;
  }
  return R[maxj - 1];
}

double ks_prob_cross_line(int64_t m, int64_t n, int64_t g, int64_t h) {
  // One boundary, i*ng - j*mg >= h, same normalised recursion; symmetric in (m, n).
  if (m < n) std::swap(m, n);
  const int64_t mg = m / g, ng = n / g;
  std::vector<double> R(static_cast<size_t>(n + 1), 0.0);
  for (int64_t i = 1; i <= m; ++i) {
    // j < jb are on or beyond the boundary.
    const int64_t jb = std::min(std::max(floor_div(ng * i - h, mg) + 1, int64_t(0)), n + 1);
    double val = 1.0;
    for (int64_t j = 0; j < jb; ++j) R[j] = 1.0;
    const double di = static_cast<double>(i);
    if (jb == 0) val = 0.0;
    for (int64_t j = jb; j <= n; ++j) {
      val = (R[j] * di + val * static_cast<double>(j)) / static_cast<double>(i + j);
      R[j] = val;
    }
  }
  return R[n];
}

bool ks_exact_pvalue(int64_t n1, int64_t n2, int64_t h, Alternative alt, double* p) {
  if (h == 0) {
    *p = 1.0;
    return true;
  }
  const int64_t g = std::gcd(n1, n2);
  double prob;
  if (alt == Alternative::two_sided) {
    prob = n1 == n2 ? ks_prob_outside_square(n1, h) : ks_prob_outside_band(n1, n2, g, h);
  } else if (n1 == n2) {
    // C(2n, n-h) / C(2n, n) as a product of h ratios.
    prob = 1.0;
    for (int64_t j = 0; j < h; ++j) {
      prob *= static_cast<double>(n1 - j) / (static_cast<double>(n1 + j) + 1.0);
    }
  } else {
    // scipy counts paths and divides by C(n1+n2, n1); it gives up (and warns) once that
    // binomial overflows a double. We recurse on probabilities, but give up at the same point.
    if (log_binom(n1, n2) >= std::log(std::numeric_limits<double>::max())) {
      *p = std::numeric_limits<double>::quiet_NaN();
      return false;
    }
    prob = ks_prob_cross_line(n1, n2, g, h);
  }
  *p = prob;
  return prob >= 0.0 && prob <= 1.0;
}

}  // namespace pipeward::drift
