// Streaming (batched) covariance, definitions §2: the centring and merging halves. The centred
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
// at stride s_col: shift[b, :] = K, the float64 mean of the block's first m rows (m ~ n / 16, see
// covariance.cpp), shifted[b, r, :] = row - K (float64, C-contiguous (B, n, dim)) and
// sums[b, :] = sum_r (row - K), all in one pass over the block. Returns false if a shift or sum
// is not finite (the rows hold a NaN or an infinity, or sums overflow).
//
// Why the shift keeps the precision of centring: with o = mean - K the centred moment is
// M2 = G - n o o^T, G = sum_r (x_r - K)(x_r - K)^T. The rounding error of G is ~eps * G_jj, and
// G_jj = M2_jj + n o_j^2, so the relative error of M2_jj grows by a factor 1 + n o_j^2 / M2_jj.
// Since K is the mean of m of the block's rows, those m rows alone give
// M2_jj >= m (K_j - mean_j)^2 = m o_j^2, so the factor is at most 1 + n / m (~17), whatever the
// offset or drift of the data: a few bits, not the catastrophic cancellation of E[xx] - E[x]E[x].
// Typically K is within ~sd / sqrt(m) of the mean and the factor is ~1 + 1/m.
template <typename T>
bool shift_rows(const T* x, const int64_t* offsets, int64_t B, int64_t n, int64_t dim,
                int64_t s_row, int64_t s_col, double* shift, double* sums, double* shifted,
                int threads);

// Chan merge, in place, of B accumulators (count_a, mean_a (B, dim), m2_a (B, dim, dim)) with
// (count_b, mean_b, m2_b); the caller adds the counts. mean_b/m2_b must not alias mean_a/m2_a.
void covariance_merge(int64_t B, int64_t dim, int64_t count_a, double* mean_a, double* m2_a,
                      int64_t count_b, const double* mean_b, const double* m2_b, int threads);

// The same merge for a block given as (count_b, shift_b, sums_b, gram_b) from shift_rows and
// gram_b = shifted^T shifted: its mean is shift_b + sums_b / count_b and its M2 is
// gram_b - sums_b sums_b^T / count_b. sums_b == nullptr means shift_b is the mean, gram_b the M2.
void covariance_merge_shifted(int64_t B, int64_t dim, int64_t count_a, double* mean_a,
                              double* m2_a, int64_t count_b, const double* shift_b,
                              const double* sums_b, const double* gram_b, int threads);

}  // namespace pycx
