// Vote counting: one row per iteration, its histogram in a per-thread buffer (small, in L1).
// A plain loop: the work is one increment per vote, bound by reading the labels.
#include "pipeward/vote.hpp"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

namespace pipeward::vote {

template <typename L>
std::size_t count_votes(const L* labels, std::size_t n, std::size_t k, std::size_t n_classes,
                        std::int32_t* counts, std::int64_t* prediction, std::int64_t* radius,
                        int threads) {
  using U = std::make_unsigned_t<L>;  // one comparison rejects negative and too-large labels
  const auto rows = static_cast<std::int64_t>(n);
  std::size_t bad = 0;
#pragma omp parallel num_threads(threads) reduction(+ : bad)
  {
    // Four interleaved histograms: a run of equal labels would otherwise serialise on one
    // counter (each increment waits for the previous store).
    std::vector<std::int32_t> lanes(4 * n_classes + 4);
    std::int32_t* h0 = lanes.data();
    std::int32_t* h1 = h0 + n_classes + 1;
    std::int32_t* h2 = h1 + n_classes + 1;
    std::int32_t* h3 = h2 + n_classes + 1;
    const std::size_t slot_bad = n_classes;  // each lane's last slot counts the bad labels
#pragma omp for schedule(static)
  for (std::int64_t i = 0; i < rows; ++i) {
    const L* row = labels + static_cast<std::size_t>(i) * k;
    std::int32_t* c = counts + static_cast<std::size_t>(i) * n_classes;
    std::fill(lanes.begin(), lanes.end(), 0);
    auto slot = [&](L x) {
      const auto v = static_cast<std::size_t>(static_cast<U>(x));
      return v < n_classes ? v : slot_bad;
    };
    std::size_t j = 0;
    for (; j + 4 <= k; j += 4) {
      ++h0[slot(row[j])];
      ++h1[slot(row[j + 1])];
      ++h2[slot(row[j + 2])];
      ++h3[slot(row[j + 3])];
    }
    for (; j < k; ++j) ++h0[slot(row[j])];
    for (std::size_t m = 0; m < n_classes; ++m) c[m] = h0[m] + h1[m] + h2[m] + h3[m];
    bad += static_cast<std::size_t>(h0[slot_bad] + h1[slot_bad] + h2[slot_bad] + h3[slot_bad]);
    std::size_t top = 0;
    for (std::size_t m = 1; m < n_classes; ++m) {
      if (c[m] > c[top]) top = m;  // strict: ties keep the smaller label
    }
    std::int64_t r = static_cast<std::int64_t>(k);
    for (std::size_t m = 0; m < n_classes; ++m) {
      if (m == top) continue;
      const std::int64_t gap = static_cast<std::int64_t>(c[top]) - c[m] - (m < top ? 1 : 0);
      r = std::min(r, gap / 2);  // gap >= 0: top beats m (ties go to the smaller label)
    }
    prediction[i] = static_cast<std::int64_t>(top);
    radius[i] = r;
  }
  }
  return bad;
}

template std::size_t count_votes<std::uint8_t>(const std::uint8_t*, std::size_t, std::size_t, std::size_t,
                                               std::int32_t*, std::int64_t*, std::int64_t*, int);
template std::size_t count_votes<std::int16_t>(const std::int16_t*, std::size_t, std::size_t, std::size_t,
                                               std::int32_t*, std::int64_t*, std::int64_t*, int);
template std::size_t count_votes<std::int32_t>(const std::int32_t*, std::size_t, std::size_t, std::size_t,
                                               std::int32_t*, std::int64_t*, std::int64_t*, int);
template std::size_t count_votes<std::int64_t>(const std::int64_t*, std::size_t, std::size_t, std::size_t,
                                               std::int32_t*, std::int64_t*, std::int64_t*, int);

}  // namespace pipeward::vote
