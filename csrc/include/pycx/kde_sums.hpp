// Hamming distances and Hamming-kernel sums of packed rows (docs/definitions.md §4).
#pragma once
#include <cstdint>

#include "pycx/simd.hpp"

namespace pycx {

// Rows of A (n x words) and B (m x words), row-major uint64 words in the layout of common.hpp.
// For each row j of A: total[j] = sum_k w_k exp(-h(a_j, b_k) / (2 s2)) and, if labels are
// given, same_label[j] = the same sum over rows k of B with b_label_k == a_label_j.
// symmetric means B = A (b, m and b_labels are ignored): each pair is then computed once and
// added to both rows. It is a flag, not b == nullptr: the data pointer of an empty B (m == 0,
// or n_bits == 0) may be null too, and an empty B gives zeros.
// b_weights: length m (nullptr = all ones). a_labels/b_labels: length n/m, or nullptr.
// same_label may be nullptr when there are no labels. Memory: O((n + m) * words) plus
// per-thread accumulators of length n + m; never an n x m matrix.
void kde_sums(const uint64_t* a, int64_t n, const uint64_t* b, int64_t m, bool symmetric,
              int64_t n_bits, double s2, const double* b_weights, const int64_t* a_labels,
              const int64_t* b_labels, double* total, double* same_label, int threads);

// out[j * m + k] = h(a_j, b_k) (symmetric: B = A, b and m ignored).
void hamming_distances(const uint64_t* a, int64_t n, const uint64_t* b, int64_t m,
                       bool symmetric, int64_t n_bits, int32_t* out, int threads);

// Register blocks: a block is kBlockRowsA rows of A against one panel of kBlockRowsB rows of B
// stored word-interleaved (panel[w * kBlockRowsB + r] = word w of row r). The block kernel
// writes the kBlockRowsA x kBlockRowsB distances to dist (row-major).
struct BlockShape {
  int rows_a;
  int rows_b;
};
BlockShape block_shape(SimdLevel level);
using BlockKernel = void (*)(const uint64_t* const* a_rows, const uint64_t* panel,
                             int64_t words, int64_t* dist);
BlockKernel block_kernel(SimdLevel level);

namespace simd_impl {

// One tile of the kernel-sum / distance loops, at one ISA level; see kde_sums_tile.hpp.
struct KdeProblem {
  const uint64_t* a;        // n_pad rows x words; rows >= n are zero (padding)
  const uint64_t* panels;   // m_pad / rows_b panels of B
  int64_t n, m, words;
  const double* table;      // n_bits + 1 kernel values
  const double* a_weights;  // n_pad (symmetric only: the weights of A's rows as B rows)
  const double* b_weights;  // m_pad, 0 for padding rows
  const int64_t* a_labels;  // n_pad or nullptr
  const int64_t* b_labels;  // m_pad or nullptr
  bool symmetric;           // B is A: only pairs k >= j are visited, and added to both rows
  int64_t chunk_words;      // words per sweep of a tile (< words: tiles of kMaxChunkedTileRows)
};
// Edge of the tiles of rows too wide for one sweep to stay in L1 (see kde_sums_tile.hpp), and
// the per-thread scratch (int64s) holding such a tile's partial distances.
constexpr int64_t kMaxChunkedTileRows = 64;
constexpr int64_t kChunkScratch = kMaxChunkedTileRows * kMaxChunkedTileRows;
struct Tile {
  int64_t a_begin, a_end;  // rows of A, multiples of rows_a (a_end may exceed n up to n_pad)
  int64_t b_begin, b_end;  // rows of B, multiples of rows_b
};
// acc/acc_same: the calling thread's accumulators (length n_pad; symmetric: rows of A and B
// are the same rows); scratch: its kChunkScratch int64s.
using KdeTileFn = void (*)(const KdeProblem&, const Tile&, double* acc, double* acc_same,
                           int64_t* scratch);
using HammingTileFn = void (*)(const KdeProblem&, const Tile&, int32_t* out);

BlockShape block_shape_scalar();
void kde_tile_scalar(const KdeProblem&, const Tile&, double*, double*, int64_t*);
void hamming_tile_scalar(const KdeProblem&, const Tile&, int32_t*);
void block_scalar(const uint64_t* const*, const uint64_t*, int64_t, int64_t*);
#if PYCX_X86
BlockShape block_shape_avx2();
void kde_tile_avx2(const KdeProblem&, const Tile&, double*, double*, int64_t*);
void hamming_tile_avx2(const KdeProblem&, const Tile&, int32_t*);
void block_avx2(const uint64_t* const*, const uint64_t*, int64_t, int64_t*);
BlockShape block_shape_avx512();
void kde_tile_avx512(const KdeProblem&, const Tile&, double*, double*, int64_t*);
void hamming_tile_avx512(const KdeProblem&, const Tile&, int32_t*);
void block_avx512(const uint64_t* const*, const uint64_t*, int64_t, int64_t*);
#endif

}  // namespace simd_impl
}  // namespace pycx
