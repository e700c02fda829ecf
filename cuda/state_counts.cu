// State counts on the GPU (docs/definitions.md §3).
//
// Rows are grouped by sorting, never by comparing all pairs:
// 1. each row gets the 64-bit hash shared with the CPU (state_hash.hpp; a bijection of the
//    row when it is one word wide), and
//    (hash, row index) pairs are radix-sorted (CUB; stable, so equal hashes keep their rows in
//    index order);
// 2. a run of equal hashes is one state unless two neighbours in it differ; that is detected
//    (full-row comparison of neighbours) and then, and only then, rows are sorted exactly:
//    an LSD radix sort over the words, least significant word first, with the same stability;
// 3. run heads give the states: a scan numbers them, the head's row index is the state's first
//    occurrence, and a last sort by first occurrence renumbers them as the CPU does.
#include <cuda_runtime.h>

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_run_length_encode.cuh>
#include <cub/device/device_scan.cuh>
#include <cub/device/device_select.cuh>

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <utility>

#include "cuda_util.cuh"
#include "pycx/common.hpp"
#include "pycx/state_hash.hpp"
#include "state_counts.hpp"

namespace pycx::cuda {
namespace {

constexpr int kThreads = 256;

#define PYCX_GRID_LOOP(i, n)                                                   \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);    \
       i += int64_t(gridDim.x) * blockDim.x)

// Runs a CUB device algorithm: the first call sizes its temporary storage, the second runs it.
template <typename F>
void cub_run(F&& algorithm, cudaStream_t stream, const char* what) {
  size_t bytes = 0;
  check(algorithm(nullptr, bytes), what);
  // At least one byte: a null pointer would turn the second call into another size query.
  Scratch<unsigned char> temp(std::max<size_t>(bytes, 1), stream);
  check(algorithm(temp.get(), bytes), what);
}

// Number of low bits that hold every value in [0, n): radix sorts of indices skip the rest.
int index_bits(int64_t n) {
  int bits = 1;
  while (bits < 63 && (int64_t(1) << bits) < n) ++bits;
  return bits;
}

// hash_mask is all ones normally; tests keep a few bits so that distinct rows really share a
// hash and the collision -> exact re-sort path runs (as the CPU's hash_mask does).
__global__ void hash_rows_kernel(const uint64_t* __restrict__ words, int64_t n, int64_t n_words,
                                 uint64_t hash_mask, uint64_t* keys, int64_t* index) {
  PYCX_GRID_LOOP(i, n) {
    keys[i] = hash_row(words + i * n_words, n_words) & hash_mask;
    index[i] = i;
  }
}

__device__ __forceinline__ bool rows_equal(const uint64_t* words, int64_t n_words, int64_t r,
                                           int64_t s) {
  const uint64_t* x = words + r * n_words;
  const uint64_t* y = words + s * n_words;
  for (int64_t w = 0; w < n_words; ++w)
    if (x[w] != y[w]) return false;
  return true;
}

// head[i] = 1 where sorted position i starts a new state. With hashes: a new hash starts a run;
// equal hashes with different rows set *collision (the grouping is then redone exactly).
__global__ void run_heads_kernel(const uint64_t* __restrict__ words, int64_t n, int64_t n_words,
                                 const uint64_t* __restrict__ sorted_keys,
                                 const int64_t* __restrict__ perm, int64_t* head,
                                 int32_t* collision) {
  PYCX_GRID_LOOP(i, n) {
    if (i == 0) {
      head[i] = 1;
      continue;
    }
    if (sorted_keys != nullptr && sorted_keys[i] != sorted_keys[i - 1]) {
      head[i] = 1;  // equal rows have equal hashes
    } else {
      const bool same_rows = rows_equal(words, n_words, perm[i], perm[i - 1]);
      head[i] = same_rows ? 0 : 1;
      if (sorted_keys != nullptr && !same_rows) *collision = 1;
    }
  }
}

__global__ void iota_kernel(int64_t* x, int64_t n) {
  PYCX_GRID_LOOP(i, n) x[i] = i;
}

__global__ void gather_word_kernel(const uint64_t* __restrict__ words, int64_t n, int64_t n_words,
                                   int64_t w, const int64_t* __restrict__ perm, uint64_t* keys) {
  PYCX_GRID_LOOP(i, n) keys[i] = words[perm[i] * n_words + w];
}

// seg_id holds the inclusive scan of the heads (1-based state numbers in sorted order).
__global__ void segment_starts_kernel(const int64_t* __restrict__ head,
                                      const int64_t* __restrict__ seg_id,
                                      const int64_t* __restrict__ perm, int64_t n,
                                      int64_t* seg_first_row, int64_t* seg_start) {
  PYCX_GRID_LOOP(i, n) {
    if (head[i]) {
      const int64_t s = seg_id[i] - 1;
      seg_first_row[s] = perm[i];  // the smallest row index of the state (stable sorts)
      seg_start[s] = i;
    }
  }
}

__global__ void renumber_kernel(const int64_t* __restrict__ order,
                                const int64_t* __restrict__ seg_start, int64_t n_states,
                                int64_t n, int64_t* rank, int64_t* counts) {
  PYCX_GRID_LOOP(r, n_states) {
    const int64_t s = order[r];
    rank[s] = r;
    counts[r] = (s + 1 < n_states ? seg_start[s + 1] : n) - seg_start[s];
  }
}

__global__ void inverse_kernel(const int64_t* __restrict__ perm,
                               const int64_t* __restrict__ seg_id,
                               const int64_t* __restrict__ rank, int64_t n, int64_t* inverse) {
  PYCX_GRID_LOOP(i, n) inverse[perm[i]] = rank[seg_id[i] - 1];
}

__global__ void gather_rows_kernel(const uint64_t* __restrict__ words, int64_t n_words,
                                   const int64_t* __restrict__ rows, int64_t n_out,
                                   uint64_t* out) {
  PYCX_GRID_LOOP(t, n_out * n_words) {
    const int64_t r = t / n_words, w = t % n_words;
    out[t] = words[rows[r] * n_words + w];
  }
}

__global__ void label_table_kernel(const int64_t* __restrict__ inverse,
                                   const int64_t* __restrict__ labels, int64_t n,
                                   const int64_t* __restrict__ classes, int64_t n_classes,
                                   unsigned long long* table) {
  PYCX_GRID_LOOP(i, n) {
    const int64_t y = labels[i];
    int64_t lo = 0, hi = n_classes;  // lower bound of y in the ascending classes
    while (lo < hi) {
      const int64_t mid = (lo + hi) / 2;
      if (classes[mid] < y) lo = mid + 1;
      else hi = mid;
    }
    atomicAdd(table + inverse[i] * n_classes + lo, 1ULL);
  }
}

}  // namespace

int64_t state_counts(const uint64_t* words, int64_t n, int64_t n_words, int64_t* inverse,
                     int64_t* counts, int64_t* first_rows, bool force_exact_sort,
                     uint64_t hash_mask, int device, void* stream) {
  DeviceGuard guard(device);
  const cudaStream_t st = as_stream(stream);
  if (n == 0) return 0;
  const unsigned grid = blocks_for(n, kThreads);
  Scratch<uint64_t> keys(n, st), sorted_keys(n, st);
  Scratch<int64_t> index(n, st), perm(n, st), head(n, st), seg_id(n, st);
  Scratch<int32_t> collision(1, st);
  check(cudaMemsetAsync(collision.get(), 0, sizeof(int32_t), st), "cudaMemsetAsync");

  bool exact = force_exact_sort || n_words == 0;
  if (!exact) {
    hash_rows_kernel<<<grid, kThreads, 0, st>>>(words, n, n_words, hash_mask, keys.get(),
                                                index.get());
    check_launch("hash_rows_kernel");
    cub_run([&](void* t, size_t& b) {
      return cub::DeviceRadixSort::SortPairs(t, b, keys.get(), sorted_keys.get(), index.get(),
                                             perm.get(), n, 0, 64, st);
    }, st, "DeviceRadixSort::SortPairs (hashes)");
    run_heads_kernel<<<grid, kThreads, 0, st>>>(words, n, n_words, sorted_keys.get(), perm.get(),
                                                head.get(), collision.get());
    check_launch("run_heads_kernel");
    exact = read_back(collision.get(), st) != 0;
  }
  if (exact) {
    // LSD radix sort over whole rows; perm and index swap roles after each pass.
    iota_kernel<<<grid, kThreads, 0, st>>>(perm.get(), n);
    check_launch("iota_kernel");
    int64_t* cur = perm.get();
    int64_t* next = index.get();
    for (int64_t w = n_words - 1; w >= 0; --w) {
      gather_word_kernel<<<grid, kThreads, 0, st>>>(words, n, n_words, w, cur, keys.get());
      check_launch("gather_word_kernel");
      cub_run([&](void* t, size_t& b) {
        return cub::DeviceRadixSort::SortPairs(t, b, keys.get(), sorted_keys.get(), cur, next, n,
                                               0, 64, st);
      }, st, "DeviceRadixSort::SortPairs (words)");
      std::swap(cur, next);
    }
    if (cur != perm.get())
      check(cudaMemcpyAsync(perm.get(), cur, sizeof(int64_t) * n, cudaMemcpyDeviceToDevice, st),
            "cudaMemcpyAsync");
    run_heads_kernel<<<grid, kThreads, 0, st>>>(words, n, n_words, nullptr, perm.get(),
                                                head.get(), collision.get());
    check_launch("run_heads_kernel");
  }

  cub_run([&](void* t, size_t& b) {
    return cub::DeviceScan::InclusiveSum(t, b, head.get(), seg_id.get(), n, st);
  }, st, "DeviceScan::InclusiveSum");
  const int64_t n_states = read_back(seg_id.get() + (n - 1), st);

  Scratch<int64_t> seg_first(n_states, st), seg_start(n_states, st), states(n_states, st),
      order(n_states, st), rank(n_states, st);
  segment_starts_kernel<<<grid, kThreads, 0, st>>>(head.get(), seg_id.get(), perm.get(), n,
                                                   seg_first.get(), seg_start.get());
  check_launch("segment_starts_kernel");
  const unsigned state_grid = blocks_for(n_states, kThreads);
  iota_kernel<<<state_grid, kThreads, 0, st>>>(states.get(), n_states);
  check_launch("iota_kernel");
  const int bits = index_bits(n);
  cub_run([&](void* t, size_t& b) {
    return cub::DeviceRadixSort::SortPairs(t, b, seg_first.get(), first_rows, states.get(),
                                           order.get(), n_states, 0, bits, st);
  }, st, "DeviceRadixSort::SortPairs (first occurrences)");
  renumber_kernel<<<state_grid, kThreads, 0, st>>>(order.get(), seg_start.get(), n_states, n,
                                                   rank.get(), counts);
  check_launch("renumber_kernel");
  inverse_kernel<<<grid, kThreads, 0, st>>>(perm.get(), seg_id.get(), rank.get(), n, inverse);
  check_launch("inverse_kernel");
  return n_states;
}

void gather_rows(const uint64_t* words, int64_t n_words, const int64_t* rows, int64_t n_out,
                 uint64_t* out, int device, void* stream) {
  DeviceGuard guard(device);
  if (n_out * n_words == 0) return;
  gather_rows_kernel<<<blocks_for(n_out * n_words, kThreads), kThreads, 0, as_stream(stream)>>>(
      words, n_words, rows, n_out, out);
  check_launch("gather_rows_kernel");
}

int64_t degeneracy(const int64_t* counts, int64_t n, int64_t* k_out, int64_t* m_out, int device,
                   void* stream) {
  DeviceGuard guard(device);
  const cudaStream_t st = as_stream(stream);
  if (n == 0) return 0;
  // CUB's run-length encoding takes an int item count (CCCL 3.0): refuse rather than narrow.
  if (n > std::numeric_limits<int>::max())
    throw std::runtime_error("pycx._cuda: degeneracy of more than 2^31 - 1 counts is not supported");
  Scratch<int64_t> sorted(n, st), n_runs(1, st);
  cub_run([&](void* t, size_t& b) {
    return cub::DeviceRadixSort::SortKeys(t, b, counts, sorted.get(), n, 0, 64, st);
  }, st, "DeviceRadixSort::SortKeys (counts)");
  cub_run([&](void* t, size_t& b) {
    return cub::DeviceRunLengthEncode::Encode(t, b, sorted.get(), k_out, m_out, n_runs.get(),
                                              static_cast<int>(n), st);
  }, st, "DeviceRunLengthEncode::Encode");
  return read_back(n_runs.get(), st);
}

int64_t unique_labels(const int64_t* labels, int64_t n, int64_t* classes_out, int device,
                      void* stream) {
  DeviceGuard guard(device);
  const cudaStream_t st = as_stream(stream);
  if (n == 0) return 0;
  Scratch<int64_t> sorted(n, st), n_selected(1, st);
  cub_run([&](void* t, size_t& b) {
    return cub::DeviceRadixSort::SortKeys(t, b, labels, sorted.get(), n, 0, 64, st);
  }, st, "DeviceRadixSort::SortKeys (labels)");
  cub_run([&](void* t, size_t& b) {
    return cub::DeviceSelect::Unique(t, b, sorted.get(), classes_out, n_selected.get(), n, st);
  }, st, "DeviceSelect::Unique");
  return read_back(n_selected.get(), st);
}

void label_table(const int64_t* inverse, const int64_t* labels, int64_t n,
                 const int64_t* classes, int64_t n_classes, int64_t n_states, int64_t* table,
                 int device, void* stream) {
  DeviceGuard guard(device);
  const cudaStream_t st = as_stream(stream);
  if (n_states * n_classes == 0) return;
  check(cudaMemsetAsync(table, 0, sizeof(int64_t) * n_states * n_classes, st), "cudaMemsetAsync");
  if (n == 0) return;
  label_table_kernel<<<blocks_for(n, kThreads), kThreads, 0, st>>>(
      inverse, labels, n, classes, n_classes, reinterpret_cast<unsigned long long*>(table));
  check_launch("label_table_kernel");
}

}  // namespace pycx::cuda
