// Distinct packed rows and their frequencies (docs/definitions.md §3: k_s per state s).
#pragma once
#include <cstdint>
#include <vector>

namespace pycx {

struct StateCountsResult {
  std::vector<int64_t> first_row;  // per state, in order of first occurrence: its first row
  std::vector<int64_t> counts;     // per state: k_s
};

// rows: n_rows x n_words (C-contiguous). Fills inverse[i] (the state of row i) and returns the
// states numbered by first occurrence. Rows are hashed (state_hash.hpp) and inserted into
// open-addressing tables, one per hash partition (one partition per thread); a hash match is
// confirmed by comparing the full rows, so a collision can never merge two states.
// hash_mask is ANDed into every hash: all ones normally; tests pass a tiny mask to force
// collisions and exercise the full-row comparison.
// Insertion is split into hash partitions (one per thread) only from partition_min_rows rows:
// it is latency-bound, and on a 2-core machine a single table with prefetching measured
// faster up to 10^6 rows (the partitions each scan all hashes and need a renumbering pass).
constexpr int64_t kPartitionMinRows = int64_t(1) << 21;
StateCountsResult state_counts(const uint64_t* rows, int64_t n_rows, int64_t n_words,
                               int64_t* inverse, int threads, uint64_t hash_mask = ~uint64_t(0),
                               int64_t partition_min_rows = kPartitionMinRows);

// out[s, :] = rows[which[s], :] for s < n_out.
void gather_rows(const uint64_t* rows, int64_t n_words, const int64_t* which, int64_t n_out,
                 uint64_t* out, int threads);

}  // namespace pycx
