#include "pycx/covariance.hpp"

#include <algorithm>
#include <cmath>

#include "pycx/covariance_math.hpp"
#include "pycx/simd.hpp"

namespace pycx {
namespace {

// The shift of a block is the mean of its first ceil(n / kShiftSampleDivisor) rows (at least
// kMinShiftRows): reading them costs ~1/16 of a pass, and the worst-case error amplification of
// the shifted product is bounded by 1 + n / m <= 17 (see covariance.hpp).
constexpr int64_t kShiftSampleDivisor = 16;
constexpr int64_t kMinShiftRows = 32;

int64_t shift_sample_rows(int64_t n) {
  return std::min(n, std::max<int64_t>(kMinShiftRows, (n + kShiftSampleDivisor - 1) / kShiftSampleDivisor));
}

}  // namespace

std::vector<int64_t> batch_offsets(const std::vector<int64_t>& shape,
                                   const std::vector<int64_t>& strides) {
  std::vector<int64_t> offsets{0};
  for (size_t axis = 0; axis < shape.size(); ++axis) {
    std::vector<int64_t> next;
    next.reserve(offsets.size() * static_cast<size_t>(shape[axis]));
    for (int64_t base : offsets)
      for (int64_t i = 0; i < shape[axis]; ++i) next.push_back(base + i * strides[axis]);
    offsets.swap(next);
  }
  return offsets;
}

template <typename T>
bool shift_rows(const T* x, const int64_t* offsets, int64_t B, int64_t n, int64_t dim,
                int64_t s_row, int64_t s_col, double* shift, double* sums, double* shifted,
                int threads) {
  if (B == 0 || n == 0 || dim == 0) return true;
  const int nthreads = resolve_threads(threads);
  const int64_t m = shift_sample_rows(n);
  bool finite = true;
#pragma omp parallel for schedule(static) num_threads(nthreads) reduction(&& : finite)
  for (int64_t b = 0; b < B; ++b) {
    const T* base = x + offsets[b];
    double* k = shift + b * dim;
    double* d = sums + b * dim;
    // Shift: the mean of the block's first m rows (see kShiftSampleDivisor).
    std::fill(k, k + dim, 0.0);
    for (int64_t r = 0; r < m; ++r) {
      const T* row = base + r * s_row;
      for (int64_t j = 0; j < dim; ++j) k[j] += static_cast<double>(row[j * s_col]);
    }
    for (int64_t j = 0; j < dim; ++j) k[j] /= static_cast<double>(m);
    // One pass: shifted rows out, their sums accumulated.
    std::fill(d, d + dim, 0.0);
    double* out = shifted + b * n * dim;
    if (s_col == 1) {
      for (int64_t r = 0; r < n; ++r, out += dim) {
        const T* row = base + r * s_row;
        for (int64_t j = 0; j < dim; ++j) {
          const double y = static_cast<double>(row[j]) - k[j];
          out[j] = y;
          d[j] += y;
        }
      }
    } else {
      for (int64_t r = 0; r < n; ++r, out += dim) {
        const T* row = base + r * s_row;
        for (int64_t j = 0; j < dim; ++j) {
          const double y = static_cast<double>(row[j * s_col]) - k[j];
          out[j] = y;
          d[j] += y;
        }
      }
    }
    for (int64_t j = 0; j < dim; ++j) finite = finite && std::isfinite(d[j]) && std::isfinite(k[j]);
  }
  return finite;
}

void covariance_merge(int64_t B, int64_t dim, int64_t count_a, double* mean_a, double* m2_a,
                      int64_t count_b, const double* mean_b, const double* m2_b, int threads) {
  covariance_merge_shifted(B, dim, count_a, mean_a, m2_a, count_b, mean_b, nullptr, m2_b, threads);
}

void covariance_merge_shifted(int64_t B, int64_t dim, int64_t count_a, double* mean_a,
                              double* m2_a, int64_t count_b, const double* shift_b,
                              const double* sums_b, const double* gram_b, int threads) {
  if (count_b == 0 || B == 0 || dim == 0) return;
  const ChanWeights w = chan_weights(count_a, count_b);
  const double nb = static_cast<double>(count_b);
  // offset = sums_b / count_b = mean_b - shift_b (0 when shift_b is already the mean).
  std::vector<double> delta(static_cast<size_t>(B * dim)), offset(static_cast<size_t>(B * dim), 0.0);
  for (int64_t k = 0; k < B * dim; ++k) {
    if (sums_b) offset[k] = sums_b[k] / nb;
    delta[k] = (shift_b[k] + offset[k]) - mean_a[k];
  }
#pragma omp parallel for collapse(2) schedule(static) num_threads(resolve_threads(threads))
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t i = 0; i < dim; ++i) {
      const double* d = delta.data() + b * dim;
      const double* o = offset.data() + b * dim;
      double* dst = m2_a + (b * dim + i) * dim;
      const double* src = gram_b + (b * dim + i) * dim;
      for (int64_t j = 0; j < dim; ++j)
        dst[j] = chan_merged_m2(dst[j], shifted_m2(src[j], o[i], o[j], nb), d[i], d[j], w);
    }
  }
  for (int64_t k = 0; k < B * dim; ++k) mean_a[k] = chan_merged_mean(mean_a[k], delta[k], w);
}

template bool shift_rows<float>(const float*, const int64_t*, int64_t, int64_t, int64_t, int64_t,
                                int64_t, double*, double*, double*, int);
template bool shift_rows<double>(const double*, const int64_t*, int64_t, int64_t, int64_t, int64_t,
                                 int64_t, double*, double*, double*, int);

}  // namespace pycx
