// Hamming distances and kernel sums on the GPU (docs/definitions.md §4).
//
// Each block takes a 64 x 64 tile of (A row, B row) pairs; 256 threads each own a 4 x 4
// register block of distances. Rows stream through shared memory kChunk words at a time
// (padded by one word so that the 16 B rows a warp reads fall in distinct banks), so memory is
// O((n + m) * words) plus the table: never an n x m matrix. At the end of a tile every thread
// turns its 16 distances into kernel values through the table, partial row sums are reduced by
// warp shuffles and shared-memory atomics, and one float64 atomicAdd per row and tile goes to
// global memory. With B = A only tiles with tile_b >= tile_a run; off-diagonal tiles add each
// pair to both of its rows (column sums), diagonal tiles visit both orders of each pair.
//
// Kernel values: table[h] = exp(-h / (2 s2)) for h = 0..n_bits, computed once per call on the
// device with the shared formula (kde_math.hpp). It is copied into shared memory when it has at
// most kMaxSharedTable entries (16 KiB) and read through the read-only cache otherwise.
#include <cuda_runtime.h>

#include <algorithm>

#include "cuda_util.cuh"
#include "kde_sums.hpp"
#include "pycx/common.hpp"
#include "pycx/kde_math.hpp"

namespace pycx::cuda {
namespace {

constexpr int kTile = 64;          // rows of A and of B per block
constexpr int kChunk = 16;         // words of each row per shared-memory pass
constexpr int kStride = kChunk + 1;
constexpr int kThreads = 256;      // 16 x 16 threads, 4 x 4 pairs each
constexpr int kPer = 4;
constexpr int64_t kMaxSharedTable = 2048;

struct Problem {
  const uint64_t* a;
  const uint64_t* b;  // == a when symmetric
  int64_t n, m, words, n_bits;
  const double* table;
  const double* weights;  // B's weights (also A's when symmetric), or nullptr
  const int64_t* a_labels;
  const int64_t* b_labels;
  double* total;
  double* same;
  int32_t* dist_out;
  int64_t tiles_b;
  int64_t first_tile_a;  // of this launch
};

// The operands every launch needs; outputs and options are filled in by the caller.
Problem rows_problem(const uint64_t* a, int64_t n, const uint64_t* b, int64_t m, int64_t n_bits) {
  Problem p{};
  p.a = a;
  p.b = b;
  p.n = n;
  p.m = m;
  p.words = words_for_bits(n_bits);
  p.n_bits = n_bits;
  return p;
}

enum class Mode { sums, distances };

template <Mode kMode, bool kSymmetric, bool kLabels, bool kSharedTable>
__global__ void __launch_bounds__(kThreads) tile_kernel(Problem p) {
  extern __shared__ uint64_t smem[];
  uint64_t* sA = smem;
  uint64_t* sB = sA + kTile * kStride;
  double* sRow = reinterpret_cast<double*>(sB + kTile * kStride);
  double* sRowSame = sRow + kTile;
  double* sCol = sRowSame + kTile;
  double* sColSame = sCol + kTile;
  double* sTable = sColSame + kTile;

  const int64_t tile_a = p.first_tile_a + blockIdx.x / p.tiles_b;
  const int64_t tile_b = blockIdx.x % p.tiles_b;
  if (kSymmetric && tile_b < tile_a) return;  // the whole block leaves together
  const int64_t a0 = tile_a * kTile, b0 = tile_b * kTile;
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;

  if (kMode == Mode::sums) {
    if (tid < kTile) {
      sRow[tid] = 0.0;
      sRowSame[tid] = 0.0;
      sCol[tid] = 0.0;
      sColSame[tid] = 0.0;
    }
    if (kSharedTable)
      for (int64_t h = tid; h <= p.n_bits; h += kThreads) sTable[h] = p.table[h];
  }

  // Padding bits past n_bits are masked on load, so a distance never exceeds n_bits (the
  // table's last index) even if a caller's words carry stray padding bits.
  const uint64_t tail_mask = last_word_mask(p.n_bits);
  int dist[kPer][kPer] = {};
  for (int64_t w0 = 0; w0 < p.words; w0 += kChunk) {
    __syncthreads();  // previous chunk fully read
    for (int idx = tid; idx < kTile * kChunk; idx += kThreads) {
      const int r = idx / kChunk, w = idx % kChunk;
      const int64_t gw = w0 + w;
      const int64_t ra = a0 + r, rb = b0 + r;
      const uint64_t mask = gw == p.words - 1 ? tail_mask : ~uint64_t(0);
      sA[r * kStride + w] = (ra < p.n && gw < p.words) ? (p.a[ra * p.words + gw] & mask) : 0;
      sB[r * kStride + w] = (rb < p.m && gw < p.words) ? (p.b[rb * p.words + gw] & mask) : 0;
    }
    __syncthreads();
#pragma unroll 4
    for (int w = 0; w < kChunk; ++w) {
      uint64_t av[kPer], bv[kPer];
#pragma unroll
      for (int i = 0; i < kPer; ++i) av[i] = sA[(ty + 16 * i) * kStride + w];
#pragma unroll
      for (int j = 0; j < kPer; ++j) bv[j] = sB[(tx + 16 * j) * kStride + w];
#pragma unroll
      for (int i = 0; i < kPer; ++i)
#pragma unroll
        for (int j = 0; j < kPer; ++j) dist[i][j] += __popcll(av[i] ^ bv[j]);
    }
  }
  __syncthreads();  // shared accumulators and table are initialised (also when words == 0)

  if (kMode == Mode::distances) {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int64_t ra = a0 + ty + 16 * i;
      if (ra >= p.n) continue;
#pragma unroll
      for (int j = 0; j < kPer; ++j) {
        const int64_t rb = b0 + tx + 16 * j;
        if (rb < p.m) p.dist_out[ra * p.m + rb] = dist[i][j];
      }
    }
    return;
  }

  const bool add_columns = kSymmetric && tile_a != tile_b;
  double row[kPer] = {}, row_same[kPer] = {}, col[kPer] = {}, col_same[kPer] = {};
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int64_t ra = a0 + ty + 16 * i;
    if (ra >= p.n) continue;
    const double wa = (add_columns && p.weights != nullptr) ? p.weights[ra] : 1.0;
    const int64_t la = kLabels ? p.a_labels[ra] : 0;
#pragma unroll
    for (int j = 0; j < kPer; ++j) {
      const int64_t rb = b0 + tx + 16 * j;
      if (rb >= p.m) continue;
      const double k = kSharedTable ? sTable[dist[i][j]] : __ldg(p.table + dist[i][j]);
      const double wb = p.weights != nullptr ? p.weights[rb] : 1.0;
      row[i] += wb * k;
      const bool same = kLabels && p.b_labels[rb] == la;
      if (same) row_same[i] += wb * k;
      if (add_columns) {
        col[j] += wa * k;
        if (same) col_same[j] += wa * k;
      }
    }
  }
  // Rows: the 16 threads of a half-warp share ty; reduce over tx with shuffles.
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    double v = row[i], s = row_same[i];
#pragma unroll
    for (int off = 8; off > 0; off /= 2) {
      v += __shfl_xor_sync(0xffffffffu, v, off);
      if (kLabels) s += __shfl_xor_sync(0xffffffffu, s, off);
    }
    if (tx == 0) {
      atomicAdd(sRow + ty + 16 * i, v);
      if (kLabels) atomicAdd(sRowSame + ty + 16 * i, s);
    }
  }
  if (add_columns) {  // uniform over the block
    const int lane = tid % 32;
#pragma unroll
    for (int j = 0; j < kPer; ++j) {
      double v = col[j], s = col_same[j];
      v += __shfl_xor_sync(0xffffffffu, v, 16);  // the two ty of a warp
      if (kLabels) s += __shfl_xor_sync(0xffffffffu, s, 16);
      if (lane < 16) {
        atomicAdd(sCol + tx + 16 * j, v);
        if (kLabels) atomicAdd(sColSame + tx + 16 * j, s);
      }
    }
  }
  __syncthreads();
  if (tid < kTile) {
    const int64_t ra = a0 + tid;
    if (ra < p.n) {
      atomicAdd(p.total + ra, sRow[tid]);
      if (kLabels) atomicAdd(p.same + ra, sRowSame[tid]);
    }
  } else if (add_columns && tid < 2 * kTile) {
    const int64_t rb = b0 + tid - kTile;
    if (rb < p.m) {
      atomicAdd(p.total + rb, sCol[tid - kTile]);
      if (kLabels) atomicAdd(p.same + rb, sColSame[tid - kTile]);
    }
  }
}

__global__ void fill_table_kernel(double* table, int64_t n_bits, double s2) {
  for (int64_t h = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; h <= n_bits;
       h += int64_t(gridDim.x) * blockDim.x)
    table[h] = hamming_kernel(h, s2);
}

size_t shared_bytes(Mode mode, bool shared_table, int64_t n_bits) {
  size_t bytes = sizeof(uint64_t) * 2 * kTile * kStride;
  if (mode == Mode::sums) bytes += sizeof(double) * 4 * kTile;
  if (shared_table) bytes += sizeof(double) * static_cast<size_t>(n_bits + 1);
  return bytes;
}

template <Mode kMode, bool kSymmetric, bool kLabels, bool kSharedTable>
void launch_tiles(Problem p, cudaStream_t stream) {
  const int64_t tiles_a = (p.n + kTile - 1) / kTile;
  p.tiles_b = (p.m + kTile - 1) / kTile;
  // Launches of at most ~2^30 blocks (the grid's x limit is 2^31 - 1).
  const int64_t tiles_a_per_launch = std::max<int64_t>(1, (int64_t(1) << 30) / p.tiles_b);
  const size_t smem = shared_bytes(kMode, kSharedTable, p.n_bits);
  for (int64_t first = 0; first < tiles_a; first += tiles_a_per_launch) {
    p.first_tile_a = first;
    const int64_t rows = std::min(tiles_a_per_launch, tiles_a - first);
    tile_kernel<kMode, kSymmetric, kLabels, kSharedTable>
        <<<static_cast<unsigned>(rows * p.tiles_b), kThreads, smem, stream>>>(p);
    check_launch("kde tile_kernel");
  }
}

template <bool kSymmetric, bool kLabels>
void launch_sums(const Problem& p, cudaStream_t stream) {
  if (p.n_bits + 1 <= kMaxSharedTable) launch_tiles<Mode::sums, kSymmetric, kLabels, true>(p, stream);
  else launch_tiles<Mode::sums, kSymmetric, kLabels, false>(p, stream);
}

}  // namespace

void kde_sums(const uint64_t* a, int64_t n, const uint64_t* b, int64_t m, bool symmetric,
              int64_t n_bits, double s2, const double* b_weights, const int64_t* a_labels,
              const int64_t* b_labels, double* total, double* same_label, int device,
              void* stream) {
  DeviceGuard guard(device);
  const cudaStream_t st = as_stream(stream);
  // `symmetric` is explicit: the address of an empty array is 0, so a null b is no sign of B = A.
  if (symmetric) {
    b = a;
    m = n;
    b_labels = a_labels;
  }
  const bool labels = a_labels != nullptr && same_label != nullptr;
  if (n == 0) return;
  check(cudaMemsetAsync(total, 0, sizeof(double) * n, st), "cudaMemsetAsync");
  if (labels) check(cudaMemsetAsync(same_label, 0, sizeof(double) * n, st), "cudaMemsetAsync");
  if (m == 0) return;
  Scratch<double> table(static_cast<size_t>(n_bits + 1), st);
  fill_table_kernel<<<blocks_for(n_bits + 1, 256), 256, 0, st>>>(table.get(), n_bits, s2);
  check_launch("fill_table_kernel");
  Problem p = rows_problem(a, n, b, m, n_bits);
  p.table = table.get();
  p.weights = b_weights;
  p.a_labels = a_labels;
  p.b_labels = b_labels;
  p.total = total;
  p.same = same_label;
  if (symmetric) {
    if (labels) launch_sums<true, true>(p, st);
    else launch_sums<true, false>(p, st);
  } else {
    if (labels) launch_sums<false, true>(p, st);
    else launch_sums<false, false>(p, st);
  }
}

void hamming_distances(const uint64_t* a, int64_t n, const uint64_t* b, int64_t m,
                       bool symmetric, int64_t n_bits, int32_t* out, int device, void* stream) {
  DeviceGuard guard(device);
  if (symmetric) {
    b = a;
    m = n;
  }
  if (n == 0 || m == 0) return;
  Problem p = rows_problem(a, n, b, m, n_bits);
  p.dist_out = out;
  launch_tiles<Mode::distances, false, false, false>(p, as_stream(stream));
}

}  // namespace pycx::cuda
