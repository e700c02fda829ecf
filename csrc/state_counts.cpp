#include "pycx/state_counts.hpp"

#include <algorithm>
#include <cstring>

#include "pycx/simd.hpp"
#include "pycx/state_hash.hpp"

namespace pycx {
namespace {

// Open-addressing (linear probing) table of one hash partition. A slot holds the full hash
// (to skip most row comparisons) and the partition-local state id; it grows by doubling so
// that heavily duplicated data keeps a small, cache-resident table.
class StateTable {
 public:
  struct Slot {
    uint64_t hash;
    int64_t state;  // -1: empty
  };

  explicit StateTable(int64_t capacity_hint) {
    int64_t cap = 1024;
    while (cap < 2 * capacity_hint) cap *= 2;
    slots_.assign(static_cast<size_t>(cap), Slot{0, -1});
  }

  // Slot for `hash` whose state equals the row (per `same`), or the empty slot where it goes.
  template <typename Same>
  Slot& find(uint64_t hash, Same&& same) {
    const uint64_t mask = slots_.size() - 1;
    for (uint64_t pos = hash & mask;; pos = (pos + 1) & mask) {
      Slot& s = slots_[pos];
      if (s.state < 0 || (s.hash == hash && same(s.state))) return s;
    }
  }

  void prefetch(uint64_t hash) const {
    __builtin_prefetch(&slots_[hash & (slots_.size() - 1)]);
  }

  // Call after filling a slot: keeps the load factor at most 1/2. Growing reallocates the
  // slots, so it invalidates every Slot reference returned by find().
  void grow_if_needed(int64_t n_states) {
    if (2 * n_states <= static_cast<int64_t>(slots_.size())) return;
    std::vector<Slot> old(slots_.size() * 2, Slot{0, -1});
    old.swap(slots_);
    const uint64_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.state < 0) continue;
      uint64_t pos = s.hash & mask;
      while (slots_[pos].state >= 0) pos = (pos + 1) & mask;
      slots_[pos] = s;
    }
  }

 private:
  std::vector<Slot> slots_;
};

// How far ahead of the current row the table slot is prefetched.
constexpr int64_t kPrefetchDistance = 16;

}  // namespace

StateCountsResult state_counts(const uint64_t* rows, int64_t n_rows, int64_t n_words,
                               int64_t* inverse, int threads, uint64_t hash_mask,
                               int64_t partition_min_rows) {
  StateCountsResult result;
  if (n_rows == 0) return result;
  const int n_threads = resolve_threads(threads);
  const int n_parts = n_rows < partition_min_rows ? 1 : n_threads;
  const size_t row_bytes = sizeof(uint64_t) * static_cast<size_t>(n_words);

  std::vector<uint64_t> hashes(static_cast<size_t>(n_rows));
  // Small inputs are not worth waking threads for.
#pragma omp parallel for schedule(static) num_threads(n_rows < 20000 ? 1 : n_threads)
  for (int64_t i = 0; i < n_rows; ++i) hashes[i] = hash_row(rows + i * n_words, n_words) & hash_mask;

  // Partition p owns the rows whose hash has high part p (the low bits index the tables), so
  // equal rows always meet in the same partition. Each partition writes only its own vectors
  // (the partition-local state of each of its rows, in row order): writing `inverse` directly
  // would make the threads share its cache lines, since their rows interleave.
  auto owner = [n_parts](uint64_t h) {
    return static_cast<int>((static_cast<unsigned __int128>(h >> 32) * n_parts) >> 32);
  };
  std::vector<std::vector<int64_t>> part_first(n_parts);   // local state -> its first row
  std::vector<std::vector<int64_t>> part_counts(n_parts);  // local state -> k_s
  std::vector<std::vector<int64_t>> part_local(n_parts);   // owned rows in order -> local state
#pragma omp parallel for schedule(static, 1) num_threads(n_parts)
  for (int p = 0; p < n_parts; ++p) {
    std::vector<int64_t>& first = part_first[p];
    std::vector<int64_t>& counts = part_counts[p];
    std::vector<int64_t>& local = n_parts == 1 ? result.counts : part_local[p];
    if (n_parts == 1) local.resize(0);
    local.reserve(static_cast<size_t>(n_rows / n_parts + n_rows / 16 + 16));
    StateTable table(std::min<int64_t>(n_rows / n_parts, 1 << 16));
    for (int64_t i = 0; i < n_rows; ++i) {
      if (i + kPrefetchDistance < n_rows) {
        const uint64_t ahead = hashes[i + kPrefetchDistance];
        if (n_parts == 1 || owner(ahead) == p) table.prefetch(ahead);
      }
      const uint64_t h = hashes[i];
      if (n_parts > 1 && owner(h) != p) continue;
      const uint64_t* row = rows + i * n_words;
      StateTable::Slot& slot = table.find(h, [&](int64_t state) {
        return std::memcmp(rows + first[state] * n_words, row, row_bytes) == 0;
      });
      // The state id is read before the table may grow: growing reallocates the slots, so
      // `slot` must not be touched after grow_if_needed.
      int64_t state = slot.state;
      if (state >= 0) {
        ++counts[state];
      } else {
        state = static_cast<int64_t>(first.size());
        slot = {h, state};
        first.push_back(i);
        counts.push_back(1);
        table.grow_if_needed(state + 1);
      }
      local.push_back(state);
    }
  }

  if (n_parts == 1) {  // local ids are already numbered by first occurrence
    std::copy(result.counts.begin(), result.counts.end(), inverse);
    result.first_row.swap(part_first[0]);
    result.counts.swap(part_counts[0]);
    return result;
  }
  // Global ids by first occurrence: merge the partitions' first rows (each list is increasing).
  std::vector<uint8_t> is_first(static_cast<size_t>(n_rows), 0);
  for (int p = 0; p < n_parts; ++p)
    for (int64_t row : part_first[p]) is_first[row] = 1;
  std::vector<int64_t> global_of_row(static_cast<size_t>(n_rows));
  int64_t n_states = 0;
  for (int64_t i = 0; i < n_rows; ++i) {
    global_of_row[i] = n_states;
    n_states += is_first[i];
  }
  result.first_row.resize(static_cast<size_t>(n_states));
  result.counts.resize(static_cast<size_t>(n_states));
  std::vector<std::vector<int64_t>> local_to_global(n_parts);
  for (int p = 0; p < n_parts; ++p) {
    local_to_global[p].resize(part_first[p].size());
    for (size_t s = 0; s < part_first[p].size(); ++s) {
      const int64_t g = global_of_row[part_first[p][s]];
      local_to_global[p][s] = g;
      result.first_row[g] = part_first[p][s];
      result.counts[g] = part_counts[p][s];
    }
  }
  std::vector<size_t> cursor(n_parts, 0);
  for (int64_t i = 0; i < n_rows; ++i) {
    const int p = owner(hashes[i]);
    inverse[i] = local_to_global[p][part_local[p][cursor[p]++]];
  }
  return result;
}

void gather_rows(const uint64_t* rows, int64_t n_words, const int64_t* which, int64_t n_out,
                 uint64_t* out, int threads) {
  const size_t row_bytes = sizeof(uint64_t) * static_cast<size_t>(n_words);
  if (row_bytes == 0) return;
#pragma omp parallel for schedule(static) num_threads(n_out < 20000 ? 1 : resolve_threads(threads))
  for (int64_t s = 0; s < n_out; ++s) std::memcpy(out + s * n_words, rows + which[s] * n_words, row_bytes);
}

}  // namespace pycx
