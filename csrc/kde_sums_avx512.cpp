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

struct Avx512Block {
  static constexpr int kRowsA = 4, kRowsB = 32;
  static constexpr int kVectors = kRowsB / 8;
  static PYCX_TILE_INLINE void run(const uint64_t* const* a_rows,
                                                        const uint64_t* panel, int64_t words,
                                                        int64_t* dist) {
    __m512i acc[kRowsA][kVectors];
    for (int i = 0; i < kRowsA; ++i)
      for (int v = 0; v < kVectors; ++v) acc[i][v] = _mm512_setzero_si512();
    const uint64_t* a0 = a_rows[0];
    const uint64_t* a1 = a_rows[1];
    const uint64_t* a2 = a_rows[2];
    const uint64_t* a3 = a_rows[3];
    for (int64_t w = 0; w < words; ++w) {
      const uint64_t* bw = panel + w * kRowsB;
      __m512i b[kVectors];
      for (int v = 0; v < kVectors; ++v) b[v] = _mm512_loadu_si512(bw + 8 * v);
      const __m512i a[kRowsA] = {_mm512_set1_epi64(static_cast<long long>(a0[w])),
                                 _mm512_set1_epi64(static_cast<long long>(a1[w])),
                                 _mm512_set1_epi64(static_cast<long long>(a2[w])),
                                 _mm512_set1_epi64(static_cast<long long>(a3[w]))};
      for (int i = 0; i < kRowsA; ++i)
        for (int v = 0; v < kVectors; ++v)
          acc[i][v] = _mm512_add_epi64(acc[i][v], _mm512_popcnt_epi64(_mm512_xor_si512(a[i], b[v])));
    }
    for (int i = 0; i < kRowsA; ++i)
      for (int v = 0; v < kVectors; ++v) _mm512_storeu_si512(dist + i * kRowsB + 8 * v, acc[i][v]);
  }
  static PYCX_TILE_INLINE void lookup(const double* table, const int64_t* dist, double* kv) {
    for (int x = 0; x < kRowsA * kRowsB; x += 8)
      _mm512_storeu_pd(kv + x, _mm512_i64gather_pd(_mm512_loadu_si512(dist + x), table, 8));
  }
};

}  // namespace

PYCX_TARGET_AVX512 void kde_tile_avx512(const KdeProblem& p, const Tile& t, double* acc, double* acc_same) {
  kde_tile<Avx512Block>(p, t, acc, acc_same);
}
PYCX_TARGET_AVX512 void hamming_tile_avx512(const KdeProblem& p, const Tile& t, int32_t* out) {
  hamming_tile<Avx512Block>(p, t, out);
}
PYCX_TARGET_AVX512 void block_avx512(const uint64_t* const* a_rows, const uint64_t* panel,
                                     int64_t words, int64_t* dist) {
  Avx512Block::run(a_rows, panel, words, dist);
}

}  // namespace pycx::simd_impl
