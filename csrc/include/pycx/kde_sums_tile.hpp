// Tile loops of the Hamming kernel sums, written once for every ISA level. Each
// kde_sums_<isa>.cpp defines PYCX_TILE_TARGET (its target attribute, or nothing for the
// baseline) before including this header, then instantiates the templates with a Block type
// supplying the register-blocked xor+popcount kernel:
//   Block::kRowsA, Block::kRowsB  block shape (rows of A x rows of one B panel)
//   Block::run(a_rows, panel, words, dist, accumulate)  dist[i * kRowsB + r] (+)= distance of
//       a_rows[i] and panel row r over `words` words (accumulate: add to what dist holds)
// Everything is force-inlined into that file's entry points and carries its target, so the
// epilogue (table lookups, weighted sums) is compiled for the same ISA as the block kernel.
// Block types are local to each ISA file, so no instantiation is shared between files
// compiled for different ISAs. (No lambdas: they would not carry the target attribute.)
#pragma once
#include <cstdint>

#include "pycx/kde_sums.hpp"

#ifndef PYCX_TILE_TARGET
#error "define PYCX_TILE_TARGET (an ISA target attribute, or empty) before including kde_sums_tile.hpp"
#endif
#define PYCX_TILE_INLINE inline __attribute__((always_inline)) PYCX_TILE_TARGET

namespace pycx::simd_impl {

// First panel of B visited for the group of A rows starting at j0: in the symmetric case the
// panels wholly below the diagonal (every k < j) are skipped.
PYCX_TILE_INLINE int64_t first_panel_row(const KdeProblem& p, const Tile& t, int64_t j0, int rows_b) {
  const int64_t diagonal = j0 / rows_b * rows_b;
  return p.symmetric && diagonal > t.b_begin ? diagonal : t.b_begin;
}

// Adds the kernel values of one finished block (distances dist) to the calling thread's
// accumulators. Symmetric: a pair (j, k) with k > j adds w_k K to row j and w_j K to row k;
// the self pair k == j adds w_j once.
template <class Block, bool kSymmetric, bool kLabels>
PYCX_TILE_INLINE void add_block(const KdeProblem& p, int64_t j0, int64_t k0, const int64_t* dist,
                                double* acc, double* acc_same) {
  constexpr int RA = Block::kRowsA, RB = Block::kRowsB;
  alignas(64) double kv[RA * RB];
  Block::lookup(p.table, dist, kv);  // kv = K(dist), the ISA's gather
  double wa[RA];
  int64_t la[RA];
  for (int i = 0; i < RA; ++i) {
    wa[i] = kSymmetric ? p.a_weights[j0 + i] : 0.0;
    la[i] = kLabels ? p.a_labels[j0 + i] : 0;
  }
  const double* wb = p.b_weights + k0;
  const int64_t* lb = p.b_labels + k0;
  if (kSymmetric && k0 < j0 + RA) {
    // A block on the diagonal: only pairs k >= j count, k == j for row j alone.
    for (int i = 0; i < RA; ++i) {
      for (int r = 0; r < RB; ++r) {
        const int64_t j = j0 + i, k = k0 + r;
        if (k < j) continue;
        const double v = kv[i * RB + r];
        const bool same = kLabels && lb[r] == la[i];
        acc[j] += wb[r] * v;
        if (same) acc_same[j] += wb[r] * v;
        if (k > j) {
          acc[k] += wa[i] * v;
          if (same) acc_same[k] += wa[i] * v;
        }
      }
    }
    return;
  }
  // Rows of A: reductions over the panel.
  for (int i = 0; i < RA; ++i) {
    const double* v = kv + i * RB;
    double sum = 0.0, sum_same = 0.0;
#pragma omp simd reduction(+ : sum, sum_same)
    for (int r = 0; r < RB; ++r) {
      sum += wb[r] * v[r];
      if constexpr (kLabels) sum_same += lb[r] == la[i] ? wb[r] * v[r] : 0.0;
    }
    acc[j0 + i] += sum;
    if constexpr (kLabels) acc_same[j0 + i] += sum_same;
  }
  // Rows of B (symmetric only): one update of the panel's accumulators per block.
  if constexpr (kSymmetric) {
#pragma omp simd
    for (int r = 0; r < RB; ++r) {
      double sum = 0.0, sum_same = 0.0;
      for (int i = 0; i < RA; ++i) {
        sum += wa[i] * kv[i * RB + r];
        if constexpr (kLabels) sum_same += lb[r] == la[i] ? wa[i] * kv[i * RB + r] : 0.0;
      }
      acc[k0 + r] += sum;
      if constexpr (kLabels) acc_same[k0 + r] += sum_same;
    }
  }
}

// Kernel sums of one tile. Wide rows are swept in chunks of p.chunk_words words so that the
// tile's slice of A and B stays in L1 while every block of the tile reuses it; the partial
// distances of the blocks wait in `partial` (the thread's kChunkScratch int64s, one per pair
// of the tile) between chunks.
template <class Block, bool kSymmetric, bool kLabels>
PYCX_TILE_INLINE void kde_tile_impl(const KdeProblem& p, const Tile& t, double* acc,
                                    double* acc_same, int64_t* partial) {
  constexpr int RA = Block::kRowsA, RB = Block::kRowsB;
  alignas(64) int64_t single[RA * RB];
  const bool chunked = p.chunk_words < p.words;
  const int64_t panels_per_row = (t.b_end - t.b_begin) / RB;
  const uint64_t* a_rows[RA];
  for (int64_t w0 = 0; w0 < p.words || w0 == 0; w0 += p.chunk_words) {
    const int64_t words = p.words - w0 < p.chunk_words ? p.words - w0 : p.chunk_words;
    const bool last = w0 + words >= p.words;
    for (int64_t j0 = t.a_begin; j0 < t.a_end; j0 += RA) {
      for (int i = 0; i < RA; ++i) a_rows[i] = p.a + (j0 + i) * p.words + w0;
      for (int64_t k0 = first_panel_row(p, t, j0, RB); k0 < t.b_end; k0 += RB) {
        int64_t* dist = single;
        if (chunked)
          dist = partial + (((j0 - t.a_begin) / RA) * panels_per_row + (k0 - t.b_begin) / RB) * RA * RB;
        Block::run(a_rows, p.panels + k0 * p.words + w0 * RB, words, dist, /*accumulate=*/w0 > 0);
        if (last) add_block<Block, kSymmetric, kLabels>(p, j0, k0, dist, acc, acc_same);
      }
    }
  }
}

template <class Block>
PYCX_TILE_INLINE void kde_tile(const KdeProblem& p, const Tile& t, double* acc, double* acc_same,
                               int64_t* scratch) {
  const bool labels = p.a_labels != nullptr;
  if (p.symmetric) {
    if (labels) kde_tile_impl<Block, true, true>(p, t, acc, acc_same, scratch);
    else kde_tile_impl<Block, true, false>(p, t, acc, acc_same, scratch);
  } else {
    if (labels) kde_tile_impl<Block, false, true>(p, t, acc, acc_same, scratch);
    else kde_tile_impl<Block, false, false>(p, t, acc, acc_same, scratch);
  }
}

// Distances of one tile into the (n x m) int32 output; padding rows are not written.
template <class Block>
PYCX_TILE_INLINE void hamming_tile(const KdeProblem& p, const Tile& t, int32_t* out) {
  constexpr int RA = Block::kRowsA, RB = Block::kRowsB;
  alignas(64) int64_t dist[RA * RB];
  const uint64_t* a_rows[RA];
  for (int64_t j0 = t.a_begin; j0 < t.a_end; j0 += RA) {
    for (int i = 0; i < RA; ++i) a_rows[i] = p.a + (j0 + i) * p.words;
    const int rows = p.n - j0 < RA ? static_cast<int>(p.n - j0) : RA;
    for (int64_t k0 = t.b_begin; k0 < t.b_end; k0 += RB) {  // every entry is written
      Block::run(a_rows, p.panels + k0 * p.words, p.words, dist, false);
      const int cols = p.m - k0 < RB ? static_cast<int>(p.m - k0) : RB;
      for (int i = 0; i < rows; ++i)
        for (int r = 0; r < cols; ++r) out[(j0 + i) * p.m + k0 + r] = static_cast<int32_t>(dist[i * RB + r]);
    }
  }
}

// Register-blocked xor+popcount with a scalar popcount of one word (Popcount::count(x)):
// kRowsA x kRowsB accumulators live in registers, the word loop is innermost.
template <class Popcount, int RA, int RB>
struct ScalarBlock {
  static constexpr int kRowsA = RA, kRowsB = RB;
  static PYCX_TILE_INLINE void run(const uint64_t* const* a_rows, const uint64_t* panel,
                                     int64_t words, int64_t* dist, bool accumulate) {
    uint64_t acc[RA][RB];
    for (int i = 0; i < RA; ++i)
      for (int r = 0; r < RB; ++r) acc[i][r] = accumulate ? static_cast<uint64_t>(dist[i * RB + r]) : 0;
    for (int64_t w = 0; w < words; ++w) {
      const uint64_t* bw = panel + w * RB;
      for (int i = 0; i < RA; ++i) {
        const uint64_t aw = a_rows[i][w];
        for (int r = 0; r < RB; ++r) acc[i][r] += Popcount::count(aw ^ bw[r]);
      }
    }
    for (int i = 0; i < RA; ++i)
      for (int r = 0; r < RB; ++r) dist[i * RB + r] = static_cast<int64_t>(acc[i][r]);
  }
  static PYCX_TILE_INLINE void lookup(const double* table, const int64_t* dist, double* kv) {
    for (int x = 0; x < RA * RB; ++x) kv[x] = table[dist[x]];
  }
};

}  // namespace pycx::simd_impl
