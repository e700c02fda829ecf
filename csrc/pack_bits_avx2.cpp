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

}  // namespace

PYCX_TARGET_AVX2 bool pack_row_f32_avx2(const float* x, int64_t n_bits, float t, uint64_t* out) {
  const __m256 tv = _mm256_set1_ps(t);
  __m256 nan_acc = _mm256_setzero_ps();
  bool nan = false;
  int64_t base = 0, w = 0;
  // Full words: no tail logic; one unordered compare of two vectors flags a NaN in either.
  for (; base + kWordBits <= n_bits; base += kWordBits, ++w) {
    uint64_t word = 0;
    for (int pair = 0; pair < 4; ++pair) {
      const __m256 a = _mm256_loadu_ps(x + base + 16 * pair), b = _mm256_loadu_ps(x + base + 16 * pair + 8);
      const uint32_t bits = uint32_t(_mm256_movemask_ps(_mm256_cmp_ps(a, tv, _CMP_GT_OQ))) |
                            uint32_t(_mm256_movemask_ps(_mm256_cmp_ps(b, tv, _CMP_GT_OQ))) << 8;
      word |= uint64_t(bits) << (16 * pair);
      nan_acc = _mm256_or_ps(nan_acc, _mm256_cmp_ps(a, b, _CMP_UNORD_Q));
    }
    out[w] = word;
  }
  for (; base < n_bits; base += kWordBits, ++w) {
    uint64_t word = 0;
    int64_t k = 0;
    const int64_t count = std::min<int64_t>(kWordBits, n_bits - base);
    for (; k + 8 <= count; k += 8) {
      const __m256 v = _mm256_loadu_ps(x + base + k);
      word |= uint64_t(uint32_t(_mm256_movemask_ps(_mm256_cmp_ps(v, tv, _CMP_GT_OQ)))) << k;
      nan_acc = _mm256_or_ps(nan_acc, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    if (k < count) word |= tail_bits(x + base + k, count - k, t, nan) << k;
    out[w] = word;
  }
  return nan || _mm256_movemask_ps(nan_acc) != 0;
}

PYCX_TARGET_AVX2 bool pack_row_f64_avx2(const double* x, int64_t n_bits, double t, uint64_t* out) {
  const __m256d tv = _mm256_set1_pd(t);
  __m256d nan_acc = _mm256_setzero_pd();
  bool nan = false;
  int64_t base = 0, w = 0;
  for (; base + kWordBits <= n_bits; base += kWordBits, ++w) {
    uint64_t word = 0;
    for (int pair = 0; pair < 8; ++pair) {
      const __m256d a = _mm256_loadu_pd(x + base + 8 * pair), b = _mm256_loadu_pd(x + base + 8 * pair + 4);
      const uint32_t bits = uint32_t(_mm256_movemask_pd(_mm256_cmp_pd(a, tv, _CMP_GT_OQ))) |
                            uint32_t(_mm256_movemask_pd(_mm256_cmp_pd(b, tv, _CMP_GT_OQ))) << 4;
      word |= uint64_t(bits) << (8 * pair);
      nan_acc = _mm256_or_pd(nan_acc, _mm256_cmp_pd(a, b, _CMP_UNORD_Q));
    }
    out[w] = word;
  }
  for (; base < n_bits; base += kWordBits, ++w) {
    uint64_t word = 0;
    int64_t k = 0;
    const int64_t count = std::min<int64_t>(kWordBits, n_bits - base);
    for (; k + 4 <= count; k += 4) {
      const __m256d v = _mm256_loadu_pd(x + base + k);
      word |= uint64_t(uint32_t(_mm256_movemask_pd(_mm256_cmp_pd(v, tv, _CMP_GT_OQ)))) << k;
      nan_acc = _mm256_or_pd(nan_acc, _mm256_cmp_pd(v, v, _CMP_UNORD_Q));
    }
    if (k < count) word |= tail_bits(x + base + k, count - k, t, nan) << k;
    out[w] = word;
  }
  return nan || _mm256_movemask_pd(nan_acc) != 0;
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
