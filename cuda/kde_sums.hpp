// Host-side interface of the CUDA Hamming distances / kernel sums (definitions §4); the same
// contract as csrc/include/pycx/kde_sums.hpp with device pointers, plus the device and stream.
#pragma once
#include <cstdint>

namespace pycx::cuda {

// total[j] = sum_k w_k exp(-h(a_j, b_k) / (2 s2)); same_label[j] the same over rows of B with
// a_label_j (when labels are given). symmetric: B = A (b, m and b_labels are ignored; each pair
// is computed once). It is a flag, never inferred from b == nullptr: an empty B (m == 0 or
// n_bits == 0) has address 0 and gives zeros. b_weights (length m, float64) and labels (int64
// codes) may be nullptr. Padding bits past n_bits are ignored. Outputs are overwritten.
// Device memory: the inputs, the outputs and an (n_bits + 1)-entry table.
void kde_sums(const uint64_t* a, int64_t n, const uint64_t* b, int64_t m, bool symmetric,
              int64_t n_bits, double s2, const double* b_weights, const int64_t* a_labels,
              const int64_t* b_labels, double* total, double* same_label, int device,
              void* stream);

// out[j * m + k] = h(a_j, b_k), int32 (symmetric: B = A, b and m ignored).
void hamming_distances(const uint64_t* a, int64_t n, const uint64_t* b, int64_t m,
                       bool symmetric, int64_t n_bits, int32_t* out, int device, void* stream);

}  // namespace pycx::cuda
