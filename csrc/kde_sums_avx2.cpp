// AVX2-level blocks: the hardware popcnt instruction (part of this level's target) on each
// xor-ed word, register-blocked like the scalar path.
#include <immintrin.h>

#include "pycx/kde_sums.hpp"
#define PYCX_TILE_TARGET PYCX_TARGET_AVX2
#include "pycx/kde_sums_tile.hpp"

namespace pycx::simd_impl {
namespace {

struct HardwarePopcount {
  static PYCX_TILE_INLINE uint64_t count(uint64_t x) {
    return static_cast<uint64_t>(_mm_popcnt_u64(x));
  }
};
using Block = ScalarBlock<HardwarePopcount, 2, 4>;

}  // namespace

PYCX_TARGET_AVX2 void kde_tile_avx2(const KdeProblem& p, const Tile& t, double* acc, double* acc_same) {
  kde_tile<Block>(p, t, acc, acc_same);
}
PYCX_TARGET_AVX2 void hamming_tile_avx2(const KdeProblem& p, const Tile& t, int32_t* out) {
  hamming_tile<Block>(p, t, out);
}
PYCX_TARGET_AVX2 void block_avx2(const uint64_t* const* a_rows, const uint64_t* panel, int64_t words,
                                 int64_t* dist) {
  Block::run(a_rows, panel, words, dist);
}

}  // namespace pycx::simd_impl
