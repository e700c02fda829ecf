// Definitions shared by the CPU (csrc/) and CUDA (cuda/) kernels.
// Math that both sides need lives in headers under csrc/include/pycx and is marked
// PYCX_HD so that nvcc compiles it for the device and the host compiler for the CPU.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define PYCX_HD __host__ __device__ __forceinline__
#else
#define PYCX_HD inline
#endif

namespace pycx {

// Bit layout of packed gate rows (documented in pycx/packed.py): bit j of a row is bit
// (j % 64) of word (j / 64), least significant bit first; padding bits of the last word are 0.
constexpr int kWordBits = 64;

PYCX_HD int64_t words_for_bits(int64_t n_bits) { return (n_bits + kWordBits - 1) / kWordBits; }

// Mask of the valid bits of the last word of a row of n_bits bits (all ones when n_bits % 64 == 0).
PYCX_HD uint64_t last_word_mask(int64_t n_bits) {
  const int rem = static_cast<int>(n_bits % kWordBits);
  return rem == 0 ? ~uint64_t(0) : ((uint64_t(1) << rem) - 1);
}

}  // namespace pycx
