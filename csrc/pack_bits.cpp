#include "pycx/pack_bits.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "pycx/common.hpp"

namespace pycx {
namespace {

template <typename T>
inline bool gate_on(T v, T threshold) {
  if constexpr (std::is_floating_point_v<T>) return v > threshold;
  else return v != T(0);
}

template <typename T>
inline bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}

// Packs 64 bytes holding 0/1 into one word, byte k -> bit k. Each group of 8 bytes is
// gathered by one multiply: byte i lands in bit 56 + i of the product and no partial products
// overlap, so nothing carries into the top byte.
inline uint64_t bytes_to_word(const uint8_t* b) {
  uint64_t word = 0;
  for (int j = 0; j < 8; ++j) {
    uint64_t u;
    std::memcpy(&u, b + 8 * j, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    u = __builtin_bswap64(u);
#endif
    word |= ((u * 0x0102040810204080ULL) >> 56) << (8 * j);
  }
  return word;
}

// Scalar packer of one segment starting at a word boundary; the reference for the vector ones.
// Full words go through a branch-free byte array that the compiler vectorises with the baseline
// instruction set (compare, narrow to bytes, OR-reduce the NaN flags); then bytes_to_word.
template <typename T>
bool pack_row_scalar(const T* x, int64_t n_bits, T threshold, uint64_t* out) {
  uint8_t nan = 0;
  int64_t base = 0, w = 0;
  for (; base + kWordBits <= n_bits; base += kWordBits, ++w) {
    const T* v = x + base;
    uint8_t bytes[kWordBits];
    for (int k = 0; k < kWordBits; ++k) bytes[k] = uint8_t(gate_on(v[k], threshold));
    for (int k = 0; k < kWordBits; ++k) nan |= uint8_t(is_nan(v[k]));
    out[w] = bytes_to_word(bytes);
  }
  if (base < n_bits) {
    const int count = static_cast<int>(n_bits - base);
    uint64_t word = 0;
    for (int k = 0; k < count; ++k) {
      word |= uint64_t(gate_on(x[base + k], threshold)) << k;
      nan |= uint8_t(is_nan(x[base + k]));
    }
    out[w] = word;
  }
  return nan != 0;
}

template <typename T>
bool pack_row(const T* x, int64_t n_bits, T threshold, uint64_t* out, SimdLevel level) {
  using RowFn = bool (*)(const T*, int64_t, T, uint64_t*);
  if constexpr (std::is_same_v<T, float>) {
    return PYCX_SIMD_PICK(level, simd_impl::pack_row_f32_avx512, simd_impl::pack_row_f32_avx2,
                          RowFn{pack_row_scalar<T>})(x, n_bits, threshold, out);
  } else if constexpr (std::is_same_v<T, double>) {
    return PYCX_SIMD_PICK(level, simd_impl::pack_row_f64_avx512, simd_impl::pack_row_f64_avx2,
                          RowFn{pack_row_scalar<T>})(x, n_bits, threshold, out);
  } else if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, int8_t> || std::is_same_v<T, bool>) {
    using BytesFn = bool (*)(const uint8_t*, int64_t, uint64_t*);  // bit = byte != 0
    const BytesFn vector = PYCX_SIMD_VECTOR(BytesFn, level, simd_impl::pack_row_u8_avx512,
                                            simd_impl::pack_row_u8_avx2);
    if (vector != nullptr) return vector(reinterpret_cast<const uint8_t*>(x), n_bits, out);
  }
  return pack_row_scalar(x, n_bits, threshold, out);
}

// Rows are cut into segments of this many words so that a few very wide rows still spread
// over all threads.
constexpr int64_t kSegmentWords = 64;

}  // namespace

template <typename T>
bool pack_rows(const T* x, int64_t n_rows, int64_t n_bits, int64_t row_stride, T threshold,
               uint64_t* out, int threads) {
  const int64_t n_words = words_for_bits(n_bits);
  if (n_rows == 0 || n_words == 0) return false;
  const int64_t segs_per_row = (n_words + kSegmentWords - 1) / kSegmentWords;
  const int64_t n_tasks = n_rows * segs_per_row;
  const SimdLevel level = active_simd_level();
  bool nan = false;
#pragma omp parallel for schedule(static) num_threads(resolve_threads(threads)) reduction(|| : nan)
  for (int64_t task = 0; task < n_tasks; ++task) {
    const int64_t row = task / segs_per_row;
    const int64_t first_word = (task % segs_per_row) * kSegmentWords;
    const int64_t first_bit = first_word * kWordBits;
    const int64_t seg_bits = std::min(n_bits - first_bit, kSegmentWords * kWordBits);
    nan = nan || pack_row(x + row * row_stride + first_bit, seg_bits, threshold,
                          out + row * n_words + first_word, level);
  }
  return nan;
}

namespace {

// In-place transpose of a 64 x 64 bit matrix (row r = a[r], column c = bit c): afterwards bit c
// of a[r] is what bit r of a[c] was. Swaps ever smaller off-diagonal blocks (32, 16, ..., 1).
inline void transpose_bits64(uint64_t* a) {
  uint64_t mask = 0x00000000FFFFFFFFULL;
  for (int j = 32; j != 0; j >>= 1, mask ^= mask << j) {
    for (int k = 0; k < 64; k = ((k | j) + 1) & ~j) {
      const uint64_t t = ((a[k] >> j) ^ a[k | j]) & mask;
      a[k | j] ^= t;
      a[k] ^= t << j;
    }
  }
}

// Channel planes with contiguous positions (NCHW, s_w == 1, s_h == W): for a block of 64
// positions, pack each channel's 64 values with the vector row packer (one word per channel),
// then transpose the 64 x 64 bit block into 64 position words. Reads every plane sequentially.
template <typename T>
bool pack_patches_planar(const T* x, int64_t N, int64_t C, int64_t HW, int64_t s_n, int64_t s_c,
                         T threshold, uint64_t* out, int threads) {
  const int64_t n_words = words_for_bits(C);
  const int64_t blocks = (HW + kWordBits - 1) / kWordBits;
  const SimdLevel level = active_simd_level();
  bool nan = false;
#pragma omp parallel for collapse(3) schedule(static) num_threads(resolve_threads(threads)) \
    reduction(|| : nan)
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t block = 0; block < blocks; ++block) {
      for (int64_t wi = 0; wi < n_words; ++wi) {
        const int64_t p0 = block * kWordBits, count = std::min<int64_t>(kWordBits, HW - p0);
        const int64_t c0 = wi * kWordBits, c_end = std::min(C, c0 + kWordBits);
        uint64_t bits[kWordBits] = {};
        bool seen_nan = false;
        for (int64_t c = c0; c < c_end; ++c)
          seen_nan |= pack_row(x + n * s_n + c * s_c + p0, count, threshold, &bits[c - c0], level);
        transpose_bits64(bits);
        uint64_t* dst = out + (n * HW + p0) * n_words + wi;
        for (int64_t p = 0; p < count; ++p) dst[p * n_words] = bits[p];
        nan = nan || seen_nan;
      }
    }
  }
  return nan;
}

// Contiguous channels (channels-last, s_c == 1): every position is already a packed row.
template <typename T>
bool pack_patches_channels_last(const T* x, int64_t N, int64_t C, int64_t H, int64_t W,
                                int64_t s_n, int64_t s_h, int64_t s_w, T threshold, uint64_t* out,
                                int threads) {
  const int64_t n_words = words_for_bits(C);
  const SimdLevel level = active_simd_level();
  bool nan = false;
#pragma omp parallel for collapse(2) schedule(static) num_threads(resolve_threads(threads)) \
    reduction(|| : nan)
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t h = 0; h < H; ++h) {
      bool seen_nan = false;
      for (int64_t w = 0; w < W; ++w)
        seen_nan |= pack_row(x + n * s_n + h * s_h + w * s_w, C, threshold,
                             out + ((n * H + h) * W + w) * n_words, level);
      nan = nan || seen_nan;
    }
  }
  return nan;
}

}  // namespace

template <typename T>
bool pack_patches(const T* x, int64_t N, int64_t C, int64_t H, int64_t W, int64_t s_n,
                  int64_t s_c, int64_t s_h, int64_t s_w, T threshold, uint64_t* out,
                  int threads) {
  const int64_t n_words = words_for_bits(C);
  const int64_t HW = H * W;
  if (N == 0 || HW == 0 || n_words == 0) return false;
  if (s_c == 1 && C > 1)
    return pack_patches_channels_last(x, N, C, H, W, s_n, s_h, s_w, threshold, out, threads);
  if ((s_w == 1 || W == 1) && (s_h == W || H == 1))
    return pack_patches_planar(x, N, C, HW, s_n, s_c, threshold, out, threads);
  bool nan = false;
  // Any other strides: one task per (sample, word of channels): it owns that word of the
  // sample's H*W rows, so tasks never write the same memory.
#pragma omp parallel for collapse(2) schedule(static) num_threads(resolve_threads(threads)) \
    reduction(|| : nan)
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t wi = 0; wi < n_words; ++wi) {
      uint64_t* o = out + n * HW * n_words + wi;
      for (int64_t p = 0; p < HW; ++p) o[p * n_words] = 0;
      const int64_t c_end = std::min(C, (wi + 1) * kWordBits);
      bool seen_nan = false;
      for (int64_t c = wi * kWordBits; c < c_end; ++c) {
        const int shift = static_cast<int>(c - wi * kWordBits);
        const T* plane = x + n * s_n + c * s_c;
        for (int64_t h = 0; h < H; ++h) {
          const T* line = plane + h * s_h;
          uint64_t* orow = o + h * W * n_words;
          for (int64_t w = 0; w < W; ++w) {
            const T v = line[w * s_w];
            orow[w * n_words] |= uint64_t(gate_on(v, threshold)) << shift;
            seen_nan |= is_nan(v);
          }
        }
      }
      nan = nan || seen_nan;
    }
  }
  return nan;
}

void concat_bits(const uint64_t* const* parts, const int64_t* part_bits, int n_parts,
                 int64_t n_rows, uint64_t* out, int threads) {
  int64_t total_bits = 0;
  for (int i = 0; i < n_parts; ++i) total_bits += part_bits[i];
  const int64_t out_words = words_for_bits(total_bits);
#pragma omp parallel for schedule(static) num_threads(resolve_threads(threads))
  for (int64_t r = 0; r < n_rows; ++r) {
    uint64_t* orow = out + r * out_words;
    std::memset(orow, 0, sizeof(uint64_t) * out_words);
    int64_t offset = 0;
    for (int i = 0; i < n_parts; ++i) {
      const int64_t words = words_for_bits(part_bits[i]);
      const uint64_t* prow = parts[i] + r * words;
      const int shift = static_cast<int>(offset % kWordBits);
      uint64_t* dst = orow + offset / kWordBits;
      // Padding bits of each part are zero, so OR-ing whole words never sets a stray bit.
      for (int64_t j = 0; j < words; ++j) {
        dst[j] |= prow[j] << shift;
        if (shift != 0 && offset / kWordBits + j + 1 < out_words) dst[j + 1] |= prow[j] >> (kWordBits - shift);
      }
      offset += part_bits[i];
    }
  }
}

#define PYCX_INSTANTIATE_PACK(T)                                                              \
  template bool pack_rows<T>(const T*, int64_t, int64_t, int64_t, T, uint64_t*, int);         \
  template bool pack_patches<T>(const T*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, \
                                int64_t, int64_t, T, uint64_t*, int);
PYCX_INSTANTIATE_PACK(float)
PYCX_INSTANTIATE_PACK(double)
PYCX_INSTANTIATE_PACK(bool)
PYCX_INSTANTIATE_PACK(uint8_t)
PYCX_INSTANTIATE_PACK(int8_t)
PYCX_INSTANTIATE_PACK(int16_t)
PYCX_INSTANTIATE_PACK(int32_t)
PYCX_INSTANTIATE_PACK(int64_t)
#undef PYCX_INSTANTIATE_PACK

}  // namespace pycx
