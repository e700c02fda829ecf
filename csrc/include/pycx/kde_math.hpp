// Hamming-kernel math shared by the CPU (csrc/) and CUDA (cuda/) KDE sums (docs/definitions.md §4).
// Distances are integers in [0, n_bits], so every kernel value comes from one table of
// n_bits + 1 entries built once per call: no exp() in the n^2 loop.
#pragma once
#include <cmath>
#include <cstdint>

#include "pycx/common.hpp"

namespace pycx {

// K(h) = exp(-h / (2 s2)), written exactly as the numpy reference computes it so that the
// table and the reference round the same way (up to the exp implementation's last ulp).
PYCX_HD double hamming_kernel(int64_t h, double s2) {
  return exp(-static_cast<double>(h) / (2.0 * s2));
}

// table[h] = hamming_kernel(h, s2) for h = 0..n_bits (n_bits + 1 entries).
PYCX_HD void fill_kernel_table(double* table, int64_t n_bits, double s2) {
  for (int64_t h = 0; h <= n_bits; ++h) table[h] = hamming_kernel(h, s2);
}

}  // namespace pycx
