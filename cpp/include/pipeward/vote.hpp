// Ensemble vote counting with the Deep Partition Aggregation certificate.
//
// Each of n rows holds the labels that k partition models voted (class indices 0..C-1). Per
// row: counts[c] = votes for c; the prediction is the smallest label with the most votes; the
// certified radius is the number of training rows that may be poisoned (inserted, deleted or
// relabelled: each touches one partition, so moves at most one vote) without changing it
// (Levine & Feizi 2021, Theorem 1, with ties to the smaller label):
//     radius = min over c != top of floor((counts[top] - counts[c] - [c < top]) / 2).
// With one class the radius is k (no vote can go anywhere else) -- by convention.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pipeward::vote {

// labels: n x k row-major; counts: n x n_classes; prediction, radius: n.
// Returns the number of labels outside [0, n_classes) (0 on success; outputs then unspecified).
template <typename L>
std::size_t count_votes(const L* labels, std::size_t n, std::size_t k, std::size_t n_classes,
                        std::int32_t* counts, std::int64_t* prediction, std::int64_t* radius,
                        int threads);

}  // namespace pipeward::vote
