// Streaming (batched) covariance, SPEC section 2: the centring and merging halves. The centred
// block product M2 = Xc^T Xc is left to BLAS (see pycx/kernels/covariance.py for why).
#pragma once
#include <cstdint>
#include <vector>

namespace pycx {

// Element offsets of every batch entry of an array whose leading axes have `shape` and element
// `strides` (C order of the batch index).
std::vector<int64_t> batch_offsets(const std::vector<int64_t>& shape,
                                   const std::vector<int64_t>& strides);

// For each batch entry b (x + offsets[b]), rows r in [0, n) at element stride s_row and columns
// at stride s_col: mean[b, :] = the float64 mean of the n rows, centred[b, r, :] = row - mean
// (float64, C-contiguous (B, n, dim)). Returns false if a mean is not finite (the rows hold a
// NaN or an infinity, or sums overflow).
template <typename T>
bool center_rows(const T* x, const int64_t* offsets, int64_t B, int64_t n, int64_t dim,
                 int64_t s_row, int64_t s_col, double* mean, double* centred, int threads);

// Chan merge, in place, of B accumulators (count_a, mean_a (B, dim), m2_a (B, dim, dim)) with
// (count_b, mean_b, m2_b); the caller adds the counts. mean_b/m2_b must not alias mean_a/m2_a.
void covariance_merge(int64_t B, int64_t dim, int64_t count_a, double* mean_a, double* m2_a,
                      int64_t count_b, const double* mean_b, const double* m2_b, int threads);

}  // namespace pycx
