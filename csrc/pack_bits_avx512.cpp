// AVX-512 packers: one compare yields a mask register that is already the packed bits.
#include <immintrin.h>

#include <algorithm>

#include "pycx/common.hpp"
#include "pycx/pack_bits.hpp"

namespace pycx::simd_impl {
namespace {

// The float and double instructions the packer needs, so one template serves both.
struct F32x16 {
  using T = float;
  using V = __m512;
  using Mask = __mmask16;
  static constexpr int kLanes = 16;
  static PYCX_TARGET_AVX512 inline V load(const T* p) { return _mm512_loadu_ps(p); }
  static PYCX_TARGET_AVX512 inline V load(Mask live, const T* p) { return _mm512_maskz_loadu_ps(live, p); }
  static PYCX_TARGET_AVX512 inline V set1(T t) { return _mm512_set1_ps(t); }
  static PYCX_TARGET_AVX512 inline Mask greater(Mask live, V a, V b) { return _mm512_mask_cmp_ps_mask(live, a, b, _CMP_GT_OQ); }
  static PYCX_TARGET_AVX512 inline Mask unordered(Mask live, V a, V b) { return _mm512_mask_cmp_ps_mask(live, a, b, _CMP_UNORD_Q); }
};

struct F64x8 {
  using T = double;
  using V = __m512d;
  using Mask = __mmask8;
  static constexpr int kLanes = 8;
  static PYCX_TARGET_AVX512 inline V load(const T* p) { return _mm512_loadu_pd(p); }
  static PYCX_TARGET_AVX512 inline V load(Mask live, const T* p) { return _mm512_maskz_loadu_pd(live, p); }
  static PYCX_TARGET_AVX512 inline V set1(T t) { return _mm512_set1_pd(t); }
  static PYCX_TARGET_AVX512 inline Mask greater(Mask live, V a, V b) { return _mm512_mask_cmp_pd_mask(live, a, b, _CMP_GT_OQ); }
  static PYCX_TARGET_AVX512 inline Mask unordered(Mask live, V a, V b) { return _mm512_mask_cmp_pd_mask(live, a, b, _CMP_UNORD_Q); }
};

template <typename S>
PYCX_TARGET_AVX512 bool pack_row_float(const typename S::T* x, int64_t n_bits, typename S::T t,
                                       uint64_t* out) {
  constexpr int L = S::kLanes;
  constexpr typename S::Mask all = typename S::Mask(~0u);
  const typename S::V tv = S::set1(t);
  typename S::Mask nan = 0;
  int64_t base = 0, w = 0;
  // Full words: unmasked loads; one unordered compare of two vectors flags a NaN in either.
  for (; base + kWordBits <= n_bits; base += kWordBits, ++w) {
    uint64_t word = 0;
    for (int k = 0; k < kWordBits; k += 2 * L) {
      const typename S::V a = S::load(x + base + k), b = S::load(x + base + k + L);
      word |= (uint64_t(S::greater(all, a, tv)) | uint64_t(S::greater(all, b, tv)) << L) << k;
      nan |= S::unordered(all, a, b);
    }
    out[w] = word;
  }
  for (; base < n_bits; base += kWordBits, ++w) {
    uint64_t word = 0;
    for (int k = 0; k < kWordBits && base + k < n_bits; k += L) {
      const int64_t count = std::min<int64_t>(L, n_bits - base - k);
      // The tail is loaded under a mask and compared under the same mask, so lanes past
      // the row end can neither set a bit nor report a NaN.
      const typename S::Mask live = count == L ? all : typename S::Mask((1u << count) - 1);
      const typename S::V v = S::load(live, x + base + k);
      word |= uint64_t(S::greater(live, v, tv)) << k;
      nan |= S::unordered(live, v, v);
    }
    out[w] = word;
  }
  return nan != 0;
}

}  // namespace

PYCX_TARGET_AVX512 bool pack_row_f32_avx512(const float* x, int64_t n_bits, float t, uint64_t* out) {
  return pack_row_float<F32x16>(x, n_bits, t, out);
}

PYCX_TARGET_AVX512 bool pack_row_f64_avx512(const double* x, int64_t n_bits, double t, uint64_t* out) {
  return pack_row_float<F64x8>(x, n_bits, t, out);
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
