// AVX2 blocks: each 64-bit lane of a ymm holds one pair of rows (a panel of B is stored
// word-interleaved, word w of a row of A is broadcast). AVX2 has no vector popcount, so bytes
// are counted with a nibble lookup table (vpshufb), byte counts are summed for up to 31 words
// (31 * 8 < 256) and folded into 64-bit lane sums with vpsadbw. This does 4 pairs in 8 uops
// spread over three vector ports, where the scalar popcnt instruction does 1 pair per cycle.
#include <immintrin.h>

#include "pycx/kde_sums.hpp"
#define PYCX_TILE_TARGET PYCX_TARGET_AVX2
#include "pycx/kde_sums_tile.hpp"

namespace pycx::simd_impl {
namespace {

template <int RA, int V>
struct Avx2BlockOf {
  static constexpr int kRowsA = RA, kRowsB = 4 * V;
  static constexpr int64_t kWordsPerByteSum = 31;  // byte counts stay <= 31 * 8 = 248

  static PYCX_TILE_INLINE void run(const uint64_t* const* a_rows, const uint64_t* panel,
                                   int64_t words, int64_t* dist, bool accumulate) {
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low_nibbles = _mm256_set1_epi8(0x0F);
    __m256i total[RA][V];
    const uint64_t* a[RA];
    for (int i = 0; i < RA; ++i) {
      a[i] = a_rows[i];
      for (int v = 0; v < V; ++v)
        total[i][v] = accumulate ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dist + i * kRowsB + 4 * v))
                                 : _mm256_setzero_si256();
    }
    for (int64_t w0 = 0; w0 < words; w0 += kWordsPerByteSum) {
      const int64_t w_end = words - w0 < kWordsPerByteSum ? words : w0 + kWordsPerByteSum;
      __m256i bytes[RA][V];
      for (int i = 0; i < RA; ++i)
        for (int v = 0; v < V; ++v) bytes[i][v] = _mm256_setzero_si256();
      for (int64_t w = w0; w < w_end; ++w) {
        const uint64_t* bw = panel + w * kRowsB;
        __m256i b[V];
        for (int v = 0; v < V; ++v) b[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bw + 4 * v));
        for (int i = 0; i < RA; ++i) {
          const __m256i ai = _mm256_set1_epi64x(static_cast<long long>(a[i][w]));
          for (int v = 0; v < V; ++v) {
            const __m256i x = _mm256_xor_si256(ai, b[v]);
            const __m256i lo = _mm256_and_si256(x, low_nibbles);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), low_nibbles);
            const __m256i count = _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
            bytes[i][v] = _mm256_add_epi8(bytes[i][v], count);
          }
        }
      }
      for (int i = 0; i < RA; ++i)
        for (int v = 0; v < V; ++v)
          total[i][v] = _mm256_add_epi64(total[i][v], _mm256_sad_epu8(bytes[i][v], _mm256_setzero_si256()));
    }
    for (int i = 0; i < RA; ++i)
      for (int v = 0; v < V; ++v)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dist + i * kRowsB + 4 * v), total[i][v]);
  }

  static PYCX_TILE_INLINE void lookup(const double* table, const int64_t* dist, double* kv) {
    for (int x = 0; x < RA * kRowsB; x += 4) {
      const __m256i d = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dist + x));
      _mm256_storeu_pd(kv + x, _mm256_i64gather_pd(table, d, 8));
    }
  }
};
using Block = Avx2BlockOf<4, 2>;  // 8 byte counters, 2 B vectors, table, mask, temporaries

}  // namespace

BlockShape block_shape_avx2() { return {Block::kRowsA, Block::kRowsB}; }
PYCX_TARGET_AVX2 void kde_tile_avx2(const KdeProblem& p, const Tile& t, double* acc, double* acc_same,
                     int64_t* scratch) {
  kde_tile<Block>(p, t, acc, acc_same, scratch);
}
PYCX_TARGET_AVX2 void hamming_tile_avx2(const KdeProblem& p, const Tile& t, int32_t* out) {
  hamming_tile<Block>(p, t, out);
}
PYCX_TARGET_AVX2 void block_avx2(const uint64_t* const* a_rows, const uint64_t* panel, int64_t words,
                                 int64_t* dist) {
  Block::run(a_rows, panel, words, dist, false);
}

}  // namespace pycx::simd_impl
