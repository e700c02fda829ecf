// Host-side interface of the CUDA batched covariance accumulators (definitions §2). State per
// batch entry b: mean (B, dim) and centred second moment m2 (B, dim, dim), float64, on the
// device; the row count (shared by all entries) is kept by the caller.
#pragma once
#include <cstdint>

namespace pycx::cuda {

// Folds the rows of an update into the state: for each batch entry b (element offset
// batch_offsets[b], host array of B entries), rows r < n at element stride s_row, columns at
// s_col, of float32 (is_double false) or float64 data. The update's own mean and centred
// product are merged with Chan's formula (covariance_math.hpp) into (count, mean, m2).
// Returns false, leaving the state untouched, if an update mean is not finite (NaN, inf or
// overflow); synchronises the stream for that check.
bool covariance_update(bool is_double, const void* x, const int64_t* batch_offsets, int64_t B,
                       int64_t n, int64_t dim, int64_t s_row, int64_t s_col, int64_t count,
                       double* mean, double* m2, int device, void* stream);

// Chan merge, in place, of (count_b, mean_b, m2_b) into (count_a, mean_a, m2_a); all on the
// device, B batch entries. mean_b/m2_b must not alias mean_a/m2_a.
void covariance_merge(int64_t B, int64_t dim, int64_t count_a, double* mean_a, double* m2_a,
                      int64_t count_b, const double* mean_b, const double* m2_b, int device,
                      void* stream);

}  // namespace pycx::cuda
