// Bit-packing of gate states (docs/definitions.md §1). Layout: see common.hpp.
#pragma once
#include <cstdint>

#include "pycx/simd.hpp"

namespace pycx {

// Packs rows: bit c of row r = (x[r * row_stride + c] > threshold) for floating T,
// (x[...] != 0) otherwise; columns must be contiguous. out has n_rows * words_for_bits(n_bits)
// words. Returns true if a NaN was seen (floating T); the output is then unspecified.
template <typename T>
bool pack_rows(const T* x, int64_t n_rows, int64_t n_bits, int64_t row_stride, T threshold,
               uint64_t* out, int threads);

// Per-patch layout of an (N, C, H, W) array with arbitrary element strides s_*: row
// n * H * W + h * W + w holds the C gates x[n, :, h, w]. Returns true if a NaN was seen.
template <typename T>
bool pack_patches(const T* x, int64_t N, int64_t C, int64_t H, int64_t W, int64_t s_n,
                  int64_t s_c, int64_t s_h, int64_t s_w, T threshold, uint64_t* out,
                  int threads);

// Concatenates the bits of several packed arrays with the same row count along the bit axis.
void concat_bits(const uint64_t* const* parts, const int64_t* part_bits, int n_parts,
                 int64_t n_rows, uint64_t* out, int threads);

namespace simd_impl {
// Whole-word packers of one row segment (n_words full or partial words). Each returns true on
// NaN. Only float32/float64/uint8 have vector versions; other types use the scalar template.
#if PYCX_X86
bool pack_row_f32_avx512(const float* x, int64_t n_bits, float t, uint64_t* out);
bool pack_row_f64_avx512(const double* x, int64_t n_bits, double t, uint64_t* out);
bool pack_row_u8_avx512(const uint8_t* x, int64_t n_bits, uint64_t* out);
bool pack_row_f32_avx2(const float* x, int64_t n_bits, float t, uint64_t* out);
bool pack_row_f64_avx2(const double* x, int64_t n_bits, double t, uint64_t* out);
bool pack_row_u8_avx2(const uint8_t* x, int64_t n_bits, uint64_t* out);
#endif
}  // namespace simd_impl

}  // namespace pycx
