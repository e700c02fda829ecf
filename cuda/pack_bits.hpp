// Host-side interface of the CUDA bit-packing kernels (plain C++: the bindings are compiled by
// the host compiler). All pointers are device pointers on `device`; work is queued on `stream`
// (a cudaStream_t passed as void*). Layout of the words: csrc/include/pycx/common.hpp.
#pragma once
#include <cstdint>

namespace pycx::cuda {

// Element types of gate arrays (the CPU kernels' GATE_DTYPES); bool is read as one byte.
enum class GateType : int { f32, f64, b8, u8, i8, i16, i32, i64 };

// Packs an (N, C, H, W) strided array into N*H*W rows of C bits (row n*H*W + h*W + w holds
// x[n, :, h, w]); strides in elements. The row layout of an (n, d) array is N=n, C=d, H=W=1
// with s_n the row stride and s_c the column stride. Floats: bit = x > threshold (compared in
// the input's type); others: bit = x != 0. `nan_flag` (one int32 on the device, zeroed by the
// caller) is set to 1 if a NaN is read. Does not synchronise.
void pack_patches(GateType type, const void* x, int64_t N, int64_t C, int64_t H, int64_t W,
                  int64_t s_n, int64_t s_c, int64_t s_h, int64_t s_w, double threshold,
                  uint64_t* out, int32_t* nan_flag, int device, void* stream);

// out (n_rows, words_for_bits(n_bits)): rows of the inputs, bit after bit (concat_bits).
void concat_bits(const uint64_t* const* parts, const int64_t* part_bits, int n_parts,
                 int64_t n_rows, uint64_t* out, int device, void* stream);

// bits (n_rows, n_bits) uint8 0/1, C-contiguous, from packed words (PackedBits.unpack).
void unpack_bits(const uint64_t* words, int64_t n_rows, int64_t n_bits, uint8_t* bits,
                 int device, void* stream);

}  // namespace pycx::cuda
