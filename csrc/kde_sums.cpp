// Hamming distances and kernel sums (docs/definitions.md §4): tiling, threading and dispatch. The
// per-ISA register blocks and the shared tile loops are in kde_sums_tile.hpp and
// kde_sums_<isa>.cpp.
#include "pycx/kde_sums.hpp"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "pycx/common.hpp"
#include "pycx/kde_math.hpp"
#define PYCX_TILE_TARGET  // baseline
#include "pycx/kde_sums_tile.hpp"

namespace pycx {
namespace simd_impl {
namespace {

// Popcount for the baseline build. On x86-64 without -mpopcnt, __builtin_popcountll becomes a
// library call; this SWAR form is a dozen inlined integer ops (the hardware instruction is the
// AVX2 level's business). Elsewhere (e.g. aarch64, where it is a baseline instruction) the
// builtin is the fast choice.
struct PortablePopcount {
  static PYCX_TILE_INLINE uint64_t count(uint64_t x) {
#if PYCX_X86
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
    return (x * 0x0101010101010101ULL) >> 56;
#else
    return static_cast<uint64_t>(__builtin_popcountll(x));
#endif
  }
};
using Block = ScalarBlock<PortablePopcount, 2, 4>;

}  // namespace

BlockShape block_shape_scalar() { return {Block::kRowsA, Block::kRowsB}; }
void kde_tile_scalar(const KdeProblem& p, const Tile& t, double* acc, double* acc_same,
                     int64_t* scratch) {
  kde_tile<Block>(p, t, acc, acc_same, scratch);
}
void hamming_tile_scalar(const KdeProblem& p, const Tile& t, int32_t* out) {
  hamming_tile<Block>(p, t, out);
}
void block_scalar(const uint64_t* const* a_rows, const uint64_t* panel, int64_t words, int64_t* dist) {
  Block::run(a_rows, panel, words, dist, false);
}

}  // namespace simd_impl

namespace {

using simd_impl::KdeProblem;
using simd_impl::Tile;

BlockShape shape_of(SimdLevel level) {
  using ShapeFn = BlockShape (*)();
  return PYCX_SIMD_PICK(level, simd_impl::block_shape_avx512, simd_impl::block_shape_avx2,
                        ShapeFn{simd_impl::block_shape_scalar})();
}

int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

// Rows of packed words with `rows` rows padded with zero rows up to `rows_pad`.
std::vector<uint64_t> padded_rows(const uint64_t* x, int64_t rows, int64_t rows_pad, int64_t words) {
  std::vector<uint64_t> out(static_cast<size_t>(rows_pad * words), 0);
  if (rows * words > 0) std::memcpy(out.data(), x, sizeof(uint64_t) * rows * words);
  return out;
}

// B in panels of `rows_b` rows, word-interleaved: panel p holds word w of its row r at
// [p * words * rows_b + w * rows_b + r]. Padding rows are zero.
std::vector<uint64_t> interleaved_panels(const uint64_t* x, int64_t rows, int64_t rows_pad,
                                         int64_t words, int rows_b) {
  std::vector<uint64_t> out(static_cast<size_t>(rows_pad * words), 0);
  for (int64_t k = 0; k < rows; ++k) {
    uint64_t* panel = out.data() + (k / rows_b) * words * rows_b + k % rows_b;
    const uint64_t* row = x + k * words;
    for (int64_t w = 0; w < words; ++w) panel[w * rows_b] = row[w];
  }
  return out;
}

template <typename T>
std::vector<T> padded(const T* x, int64_t len, int64_t len_pad, T fill) {
  std::vector<T> out(static_cast<size_t>(len_pad), fill);
  if (x != nullptr) std::copy(x, x + len, out.begin());
  return out;
}

// Tiles are sized so that the B rows of a tile (the part swept by every group of A rows)
// stay in L1: a tile edge of up to 512 rows for narrow rows; for wide rows, tiles of
// kMaxChunkedTileRows rows swept chunk_words words at a time. The budget is two thirds of a
// 48 KiB L1 (CPUs with 32 KiB get a little less reuse, nothing worse).
constexpr int64_t kL1Bytes = int64_t(32) << 10;
constexpr int64_t kMaxTileRows = 512;

struct TileShape {
  int64_t edge, chunk_words;
};
TileShape tile_shape(int64_t words, int64_t align) {
  const int64_t row_bytes = 8 * std::max<int64_t>(words, 1);
  const int64_t rows_in_l1 = kL1Bytes / row_bytes / align * align;
  if (rows_in_l1 >= simd_impl::kMaxChunkedTileRows)
    return {std::min(kMaxTileRows, rows_in_l1), std::max<int64_t>(words, 1)};
  const int64_t max_chunk = std::max<int64_t>(1, kL1Bytes / (8 * simd_impl::kMaxChunkedTileRows));
  const int64_t n_chunks = (words + max_chunk - 1) / max_chunk;
  return {simd_impl::kMaxChunkedTileRows, (words + n_chunks - 1) / n_chunks};  // even chunks
}

struct Prepared {
  std::vector<uint64_t> a, panels;
  KdeProblem problem{};
  std::vector<Tile> tiles;
  int64_t n_pad = 0, m_pad = 0;
};

// Pads and interleaves the inputs and lists the tiles (symmetric: upper triangle only).
void prepare(Prepared& prep, const uint64_t* a, int64_t n, const uint64_t* b, int64_t m,
             bool symmetric, int64_t n_bits, SimdLevel level, bool triangle) {
  const BlockShape s = shape_of(level);
  const int64_t words = words_for_bits(n_bits);
  const int64_t align = std::max(s.rows_a, s.rows_b);  // both powers of two
  prep.n_pad = round_up(n, align);
  prep.m_pad = symmetric ? prep.n_pad : round_up(m, s.rows_b);
  prep.a = padded_rows(a, n, prep.n_pad, words);
  prep.panels = interleaved_panels(symmetric ? a : b, m, prep.m_pad, words, s.rows_b);
  KdeProblem& p = prep.problem;
  p.a = prep.a.data();
  p.panels = prep.panels.data();
  p.n = n;
  p.m = m;
  p.words = words;
  p.symmetric = symmetric && triangle;
  const TileShape shape = tile_shape(words, align);
  const int64_t edge = shape.edge;
  p.chunk_words = shape.chunk_words;
  for (int64_t j = 0; j < prep.n_pad; j += edge)
    for (int64_t k = (p.symmetric ? j : 0); k < prep.m_pad; k += edge)
      prep.tiles.push_back({j, std::min(j + edge, prep.n_pad), k, std::min(k + edge, prep.m_pad)});
}

}  // namespace

BlockShape block_shape(SimdLevel level) { return shape_of(level); }

BlockKernel block_kernel(SimdLevel level) {
  return PYCX_SIMD_PICK(level, simd_impl::block_avx512, simd_impl::block_avx2,
                        BlockKernel{simd_impl::block_scalar});
}

void kde_sums(const uint64_t* a, int64_t n, const uint64_t* b, int64_t m, bool symmetric,
              int64_t n_bits, double s2, const double* b_weights, const int64_t* a_labels,
              const int64_t* b_labels, double* total, double* same_label, int threads) {
  if (symmetric) {
    m = n;
    b_labels = a_labels;
  }
  const bool labels = a_labels != nullptr;
  std::fill(total, total + n, 0.0);
  if (labels) std::fill(same_label, same_label + n, 0.0);
  if (n == 0 || m == 0) return;

  const SimdLevel level = active_simd_level();
  const simd_impl::KdeTileFn tile_fn =
      PYCX_SIMD_PICK(level, simd_impl::kde_tile_avx512, simd_impl::kde_tile_avx2,
                     simd_impl::KdeTileFn{simd_impl::kde_tile_scalar});
  Prepared prep;
  prepare(prep, a, n, b, m, symmetric, n_bits, level, /*triangle=*/true);
  std::vector<double> table(static_cast<size_t>(n_bits + 1));
  fill_kernel_table(table.data(), n_bits, s2);
  // Padding rows of B weigh nothing, so they add nothing to any sum.
  std::vector<double> wb(static_cast<size_t>(prep.m_pad), 0.0);
  for (int64_t k = 0; k < m; ++k) wb[k] = b_weights != nullptr ? b_weights[k] : 1.0;
  // Labels of padding rows are irrelevant (their weight is 0); -1 is as good as any.
  const std::vector<int64_t> la = padded<int64_t>(a_labels, n, prep.n_pad, -1);
  const std::vector<int64_t> lb = padded<int64_t>(b_labels, m, prep.m_pad, -1);
  KdeProblem& p = prep.problem;
  p.table = table.data();
  p.b_weights = wb.data();
  p.a_weights = wb.data();  // used only when symmetric, where A's rows are B's
  p.a_labels = labels ? la.data() : nullptr;
  p.b_labels = labels ? lb.data() : nullptr;

  // Symmetric tiles add to rows of both A and B: each thread sums into its own accumulators.
  const int64_t acc_len = std::max(prep.n_pad, symmetric ? prep.m_pad : 0);
  const int n_threads = std::max(1, std::min<int>(resolve_threads(threads),
                                                  static_cast<int>(prep.tiles.size())));
  const size_t slot = static_cast<size_t>(acc_len) * (labels ? 2 : 1);
  std::vector<double> accs(slot * n_threads, 0.0);
  std::vector<int64_t> scratch(static_cast<size_t>(simd_impl::kChunkScratch) * n_threads);
  const int64_t n_tiles = static_cast<int64_t>(prep.tiles.size());
#pragma omp parallel num_threads(n_threads)
  {
    double* acc = accs.data() + slot * omp_get_thread_num();
    double* acc_same = labels ? acc + acc_len : nullptr;
    int64_t* partial = scratch.data() + simd_impl::kChunkScratch * omp_get_thread_num();
    // Static round-robin: tile t always goes to thread t % n_threads, in increasing t, so the
    // floating-point sums are grouped the same way on every call (reproducible for a given
    // thread count; dynamic scheduling made the last bits vary from call to call).
#pragma omp for schedule(static, 1)
    for (int64_t t = 0; t < n_tiles; ++t) tile_fn(p, prep.tiles[t], acc, acc_same, partial);
  }
  for (int th = 0; th < n_threads; ++th) {
    const double* acc = accs.data() + slot * th;
    for (int64_t j = 0; j < n; ++j) total[j] += acc[j];
    if (labels)
      for (int64_t j = 0; j < n; ++j) same_label[j] += acc[acc_len + j];
  }
}

void hamming_distances(const uint64_t* a, int64_t n, const uint64_t* b, int64_t m,
                       bool symmetric, int64_t n_bits, int32_t* out, int threads) {
  if (symmetric) m = n;
  if (n == 0 || m == 0) return;
  const SimdLevel level = active_simd_level();
  const simd_impl::HammingTileFn tile_fn =
      PYCX_SIMD_PICK(level, simd_impl::hamming_tile_avx512, simd_impl::hamming_tile_avx2,
                     simd_impl::HammingTileFn{simd_impl::hamming_tile_scalar});
  Prepared prep;
  prepare(prep, a, n, b, m, symmetric, n_bits, level, /*triangle=*/false);
  const KdeProblem& p = prep.problem;
  const int64_t n_tiles = static_cast<int64_t>(prep.tiles.size());
#pragma omp parallel for schedule(dynamic, 1) num_threads(resolve_threads(threads))
  for (int64_t t = 0; t < n_tiles; ++t) tile_fn(p, prep.tiles[t], out);
}

}  // namespace pycx
