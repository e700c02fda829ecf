// AVX2 packers: compare, then movemask gathers the sign bits into an integer.
#include <immintrin.h>

#include <algorithm>

#include "pycx/common.hpp"
#include "pycx/pack_bits.hpp"

namespace pycx::simd_impl {
namespace {

// Scalar tail shared by the AVX2 packers (rows whose length is not a multiple of the vector).
template <typename T>
PYCX_TARGET_AVX2 inline uint64_t tail_bits(const T* x, int64_t count, T t, bool& nan) {
  uint64_t bits = 0;
  for (int64_t k = 0; k < count; ++k) {
    bits |= uint64_t(x[k] > t) << k;
    nan |= x[k] != x[k];
  }
  return bits;
}

// The float and double instructions the packer needs, so one template serves both.
struct F32x8 {
  using T = float;
  using V = __m256;
  static constexpr int kLanes = 8;
  static PYCX_TARGET_AVX2 inline V load(const T* p) { return _mm256_loadu_ps(p); }
  static PYCX_TARGET_AVX2 inline V set1(T t) { return _mm256_set1_ps(t); }
  static PYCX_TARGET_AVX2 inline V zero() { return _mm256_setzero_ps(); }
  static PYCX_TARGET_AVX2 inline V greater(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static PYCX_TARGET_AVX2 inline V unordered(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_UNORD_Q); }
  static PYCX_TARGET_AVX2 inline V bit_or(V a, V b) { return _mm256_or_ps(a, b); }
  static PYCX_TARGET_AVX2 inline uint32_t signs(V a) { return uint32_t(_mm256_movemask_ps(a)); }
};

struct F64x4 {
  using T = double;
  using V = __m256d;
  static constexpr int kLanes = 4;
  static PYCX_TARGET_AVX2 inline V load(const T* p) { return _mm256_loadu_pd(p); }
  static PYCX_TARGET_AVX2 inline V set1(T t) { return _mm256_set1_pd(t); }
  static PYCX_TARGET_AVX2 inline V zero() { return _mm256_setzero_pd(); }
  static PYCX_TARGET_AVX2 inline V greater(V a, V b) { return _mm256_cmp_pd(a, b, _CMP_GT_OQ); }
  static PYCX_TARGET_AVX2 inline V unordered(V a, V b) { return _mm256_cmp_pd(a, b, _CMP_UNORD_Q); }
  static PYCX_TARGET_AVX2 inline V bit_or(V a, V b) { return _mm256_or_pd(a, b); }
  static PYCX_TARGET_AVX2 inline uint32_t signs(V a) { return uint32_t(_mm256_movemask_pd(a)); }
};

template <typename S>
PYCX_TARGET_AVX2 bool pack_row_float(const typename S::T* x, int64_t n_bits, typename S::T t,
                                     uint64_t* out) {
  constexpr int L = S::kLanes;
  const typename S::V tv = S::set1(t);
  typename S::V nan_acc = S::zero();
  bool nan = false;
  int64_t base = 0, w = 0;
  // Full words: no tail logic; one unordered compare of two vectors flags a NaN in either.
  for (; base + kWordBits <= n_bits; base += kWordBits, ++w) {
    uint64_t word = 0;
    for (int k = 0; k < kWordBits; k += 2 * L) {
      const typename S::V a = S::load(x + base + k), b = S::load(x + base + k + L);
      const uint64_t bits = S::signs(S::greater(a, tv)) | uint64_t(S::signs(S::greater(b, tv))) << L;
      word |= bits << k;
      nan_acc = S::bit_or(nan_acc, S::unordered(a, b));
    }
    out[w] = word;
  }
  for (; base < n_bits; base += kWordBits, ++w) {
    uint64_t word = 0;
    int64_t k = 0;
    const int64_t count = std::min<int64_t>(kWordBits, n_bits - base);
    for (; k + L <= count; k += L) {
      const typename S::V v = S::load(x + base + k);
      word |= uint64_t(S::signs(S::greater(v, tv))) << k;
      nan_acc = S::bit_or(nan_acc, S::unordered(v, v));
    }
    if (k < count) word |= tail_bits(x + base + k, count - k, t, nan) << k;
    out[w] = word;
  }
  return nan || S::signs(nan_acc) != 0;
}

}  // namespace

PYCX_TARGET_AVX2 bool pack_row_f32_avx2(const float* x, int64_t n_bits, float t, uint64_t* out) {
  return pack_row_float<F32x8>(x, n_bits, t, out);
}

PYCX_TARGET_AVX2 bool pack_row_f64_avx2(const double* x, int64_t n_bits, double t, uint64_t* out) {
  return pack_row_float<F64x4>(x, n_bits, t, out);
}

PYCX_TARGET_AVX2 bool pack_row_u8_avx2(const uint8_t* x, int64_t n_bits, uint64_t* out) {
  const __m256i zero = _mm256_setzero_si256();
  bool unused = false;
  for (int64_t base = 0, w = 0; base < n_bits; base += kWordBits, ++w) {
    uint64_t word = 0;
    int64_t k = 0;
    const int64_t count = std::min<int64_t>(kWordBits, n_bits - base);
    for (; k + 32 <= count; k += 32) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + base + k));
      const uint32_t zeros = uint32_t(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, zero)));
      word |= uint64_t(~zeros) << k;
    }
    if (k < count) word |= tail_bits<uint8_t>(x + base + k, count - k, 0, unused) << k;
    out[w] = word;
  }
  return false;
}

}  // namespace pycx::simd_impl
