// AVX-512 VPOPCNTDQ blocks: each zmm lane holds one pair of rows. A panel of 32 rows of B is
// stored word-interleaved, so one load brings word w of 8 rows; word w of a row of A is
// broadcast. 4 rows of A x 4 vectors of B = 16 accumulators of 8 pairs each stay in
// registers across the whole word loop, and no horizontal reduction is ever needed.
#include <immintrin.h>

#include "pycx/kde_sums.hpp"
#define PYCX_TILE_TARGET PYCX_TARGET_AVX512
#include "pycx/kde_sums_tile.hpp"

namespace pycx::simd_impl {
namespace {

template <int RA, int V>
struct Avx512BlockOf {
  static constexpr int kRowsA = RA, kRowsB = 8 * V;
  static PYCX_TILE_INLINE void run(const uint64_t* const* a_rows, const uint64_t* panel,
                                   int64_t words, int64_t* dist, bool accumulate) {
    __m512i acc[RA][V];
    const uint64_t* a[RA];
    for (int i = 0; i < RA; ++i) {
      a[i] = a_rows[i];
      for (int v = 0; v < V; ++v)
        acc[i][v] = accumulate ? _mm512_loadu_si512(dist + i * kRowsB + 8 * v) : _mm512_setzero_si512();
    }
    for (int64_t w = 0; w < words; ++w) {
      const uint64_t* bw = panel + w * kRowsB;
      __m512i b[V];
      for (int v = 0; v < V; ++v) b[v] = _mm512_loadu_si512(bw + 8 * v);

      for (int i = 0; i < RA; ++i) {
        const __m512i ai = _mm512_set1_epi64(static_cast<long long>(a[i][w]));
        for (int v = 0; v < V; ++v)
          acc[i][v] = _mm512_add_epi64(acc[i][v], _mm512_popcnt_epi64(_mm512_xor_si512(ai, b[v])));
      }
    }
    for (int i = 0; i < RA; ++i)
      for (int v = 0; v < V; ++v) _mm512_storeu_si512(dist + i * kRowsB + 8 * v, acc[i][v]);
  }
  static PYCX_TILE_INLINE void lookup(const double* table, const int64_t* dist, double* kv) {
    for (int x = 0; x < RA * kRowsB; x += 8)
      _mm512_storeu_pd(kv + x, _mm512_i64gather_pd(_mm512_loadu_si512(dist + x), table, 8));
  }
};
using Avx512Block = Avx512BlockOf<4, 4>;  // 16 accumulators + 4 B vectors + 1 broadcast

}  // namespace

BlockShape block_shape_avx512() { return {Avx512Block::kRowsA, Avx512Block::kRowsB}; }
PYCX_TARGET_AVX512 void kde_tile_avx512(const KdeProblem& p, const Tile& t, double* acc, double* acc_same,
                     int64_t* scratch) {
  kde_tile<Avx512Block>(p, t, acc, acc_same, scratch);
}
PYCX_TARGET_AVX512 void hamming_tile_avx512(const KdeProblem& p, const Tile& t, int32_t* out) {
  hamming_tile<Avx512Block>(p, t, out);
}
PYCX_TARGET_AVX512 void block_avx512(const uint64_t* const* a_rows, const uint64_t* panel,
                                     int64_t words, int64_t* dist) {
  Avx512Block::run(a_rows, panel, words, dist, false);
}

}  // namespace pycx::simd_impl
