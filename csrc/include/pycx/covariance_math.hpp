// Chan, Golub & LeVeque's pairwise update of (count, mean, M2), shared by the CPU and CUDA
// covariance accumulators. M2 is the centred second moment sum_r (x_r - mean)(x_r - mean)^T,
// so covariance = M2 / count. Merging centred partial results avoids the cancellation of
// E[xx] - E[x]E[x] when the mean is large compared with the spread.
#pragma once
#include <cstdint>

#include "pycx/common.hpp"

namespace pycx {

struct ChanWeights {
  double mean;  // n_b / n: weight of the mean difference in the merged mean
  double m2;    // n_a * n_b / n: weight of delta delta^T in the merged M2
};

// Computed in double: n_a * n_b can exceed the int64 range for very long streams.
PYCX_HD ChanWeights chan_weights(int64_t n_a, int64_t n_b) {
  const double n = static_cast<double>(n_a) + static_cast<double>(n_b);
  if (n == 0) return {0.0, 0.0};
  const double nb_over_n = static_cast<double>(n_b) / n;
  return {nb_over_n, static_cast<double>(n_a) * nb_over_n};
}

// delta = mean_b - mean_a.
PYCX_HD double chan_merged_mean(double mean_a, double delta, const ChanWeights& w) {
  return mean_a + delta * w.mean;
}

// Entry (i, j) of the merged M2; delta_i, delta_j are entries of mean_b - mean_a.
PYCX_HD double chan_merged_m2(double m2_a, double m2_b, double delta_i, double delta_j,
                              const ChanWeights& w) {
  return m2_a + m2_b + delta_i * delta_j * w.m2;
}

// Entry (i, j) of the centred M2 of n rows from their product around a shift K,
// gram = sum_r (x_r - K)(x_r - K)^T, and o = mean - K: M2 = gram - n o o^T. Exact algebra; the
// rounding is benign while |o| is not large against the spread (see covariance.hpp).
PYCX_HD double shifted_m2(double gram, double offset_i, double offset_j, double n) {
  return gram - n * offset_i * offset_j;
}

}  // namespace pycx
