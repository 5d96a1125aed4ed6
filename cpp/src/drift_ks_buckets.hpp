// KS statistic by bucket refinement (drift_ks_buckets.cpp): for large samples, in place of two
// full sorts and a merge.
#pragma once

#include <cstdint>
#include <vector>

#include "pipeward/drift.hpp"

namespace pipeward::drift {

// Samples at least this large (each) go through buckets; smaller ones are sorted outright.
// Bucket offsets and counts are 32-bit, which keeps the tables in L1.
constexpr int64_t kBucketedMinValues = 2048, kBucketedMaxValues = INT32_MAX;

// Features handled together at most: four cache lines of a row-major float64 table, which
// the hardware prefetchers stream far better than one.
constexpr int64_t kBlockFeatures = 32;

// A kept value still in the table: its offset from the block's first value, its feature and
// bucket.
struct PendingValue {
  int64_t offset;
  int32_t feature, bucket;
};

// Buffers reused from feature to feature by one thread.
template <typename T>
struct BucketScratch {
  struct Level {
    std::vector<uint32_t> count_a, count_b, bucket_a, bucket_b;
    std::vector<int32_t> start_a, start_b, next;  // samples hold < 2^31 values
    std::vector<T> values_a, values_b;
  };
  std::vector<Level> levels;
  std::vector<uint32_t> block_count_a, block_count_b;
  std::vector<uint16_t> block_ids_a, block_ids_b;
  std::vector<int32_t> start_a, start_b;  // the block's kept-bucket offsets
  std::vector<std::vector<T>> block_values_a, block_values_b;
  std::vector<PendingValue> pending;
  std::vector<uint32_t> kept_bits;
  std::vector<int64_t> kept_at;
  std::vector<int64_t> run_ends;
  std::vector<double> sampled;          // a feature's sample, to choose its bucket map
  std::vector<uint16_t> sampled_counts;
  std::vector<T> leaf_a, leaf_b;
  std::vector<unsigned char> radix;

  Level& level(int depth);
  int64_t* run_end(int64_t buckets);  // one per bucket, for sorted_run_ends to fill
  void trim();                        // drop the buffers if they grew large
};

// scipy's statistic (KsStat with n1, n2 and status) for features f0 .. f0 + count - 1
// (count <= kBlockFeatures) of x1 (sorted rows when presorted) and x2 (unsorted), NaNs
// omitted or reported per omit_nan. Exact only while n1 n2 < 2^50 and each n is at most
// kBucketedMaxValues; callers check.
// reference: x1's maps and run ends computed beforehand (ks_reference_buckets), or null.
template <typename T>
void ks_bucketed_block(const Samples<T>& x1, const Samples<T>& x2, int64_t f0, int64_t count,
                       bool omit_nan, const ReferenceBuckets* reference, KsStat* out,
                       BucketScratch<T>& scratch);

}  // namespace pipeward::drift
