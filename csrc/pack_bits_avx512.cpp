// AVX-512 packers: one compare yields a mask register that is already the packed bits.
#include <immintrin.h>

#include <algorithm>

#include "pycx/common.hpp"
#include "pycx/pack_bits.hpp"

namespace pycx::simd_impl {

PYCX_TARGET_AVX512 bool pack_row_f32_avx512(const float* x, int64_t n_bits, float t, uint64_t* out) {
  const __m512 tv = _mm512_set1_ps(t);
  __mmask16 nan = 0;
  int64_t base = 0, w = 0;
  // Full words: unmasked loads; one unordered compare of two vectors flags a NaN in either.
  for (; base + kWordBits <= n_bits; base += kWordBits, ++w) {
    const __m512 v0 = _mm512_loadu_ps(x + base), v1 = _mm512_loadu_ps(x + base + 16);
    const __m512 v2 = _mm512_loadu_ps(x + base + 32), v3 = _mm512_loadu_ps(x + base + 48);
    out[w] = uint64_t(_mm512_cmp_ps_mask(v0, tv, _CMP_GT_OQ)) |
             uint64_t(_mm512_cmp_ps_mask(v1, tv, _CMP_GT_OQ)) << 16 |
             uint64_t(_mm512_cmp_ps_mask(v2, tv, _CMP_GT_OQ)) << 32 |
             uint64_t(_mm512_cmp_ps_mask(v3, tv, _CMP_GT_OQ)) << 48;
    nan |= _mm512_cmp_ps_mask(v0, v1, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(v2, v3, _CMP_UNORD_Q);
  }
  for (; base < n_bits; base += kWordBits, ++w) {
    uint64_t word = 0;
    for (int chunk = 0; chunk < 4; ++chunk) {
      const int64_t start = base + 16 * chunk;
      if (start >= n_bits) break;
      const int64_t count = std::min<int64_t>(16, n_bits - start);
      // The tail is loaded under a mask and compared under the same mask, so lanes past
      // the row end can neither set a bit nor report a NaN.
      const __mmask16 live = count == 16 ? __mmask16(0xFFFF) : __mmask16((1u << count) - 1);
      const __m512 v = _mm512_maskz_loadu_ps(live, x + start);
      word |= uint64_t(_mm512_mask_cmp_ps_mask(live, v, tv, _CMP_GT_OQ)) << (16 * chunk);
      nan |= _mm512_mask_cmp_ps_mask(live, v, v, _CMP_UNORD_Q);
    }
    out[w] = word;
  }
  return nan != 0;
}

PYCX_TARGET_AVX512 bool pack_row_f64_avx512(const double* x, int64_t n_bits, double t, uint64_t* out) {
  const __m512d tv = _mm512_set1_pd(t);
  __mmask8 nan = 0;
  int64_t base = 0, w = 0;
  for (; base + kWordBits <= n_bits; base += kWordBits, ++w) {
    uint64_t word = 0;
    for (int pair = 0; pair < 4; ++pair) {
      const __m512d a = _mm512_loadu_pd(x + base + 16 * pair), b = _mm512_loadu_pd(x + base + 16 * pair + 8);
      word |= uint64_t(_mm512_cmp_pd_mask(a, tv, _CMP_GT_OQ)) << (16 * pair);
      word |= uint64_t(_mm512_cmp_pd_mask(b, tv, _CMP_GT_OQ)) << (16 * pair + 8);
      nan |= _mm512_cmp_pd_mask(a, b, _CMP_UNORD_Q);
    }
    out[w] = word;
  }
  for (; base < n_bits; base += kWordBits, ++w) {
    uint64_t word = 0;
    for (int chunk = 0; chunk < 8; ++chunk) {
      const int64_t start = base + 8 * chunk;
      if (start >= n_bits) break;
      const int64_t count = std::min<int64_t>(8, n_bits - start);
      const __mmask8 live = __mmask8((1u << count) - 1);
      const __m512d v = _mm512_maskz_loadu_pd(live, x + start);
      word |= uint64_t(_mm512_mask_cmp_pd_mask(live, v, tv, _CMP_GT_OQ)) << (8 * chunk);
      nan |= _mm512_mask_cmp_pd_mask(live, v, v, _CMP_UNORD_Q);
    }
    out[w] = word;
  }
  return nan != 0;
}

PYCX_TARGET_AVX512 bool pack_row_u8_avx512(const uint8_t* x, int64_t n_bits, uint64_t* out) {
  for (int64_t base = 0, w = 0; base < n_bits; base += kWordBits, ++w) {
    const int64_t count = std::min<int64_t>(64, n_bits - base);
    const __mmask64 live = count == 64 ? ~__mmask64(0) : ((__mmask64(1) << count) - 1);
    const __m512i v = _mm512_maskz_loadu_epi8(live, x + base);
    out[w] = _mm512_test_epi8_mask(v, v);
  }
  return false;
}

}  // namespace pycx::simd_impl
