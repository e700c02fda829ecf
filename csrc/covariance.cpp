#include "pycx/covariance.hpp"

#include <algorithm>
#include <cmath>

#include "pycx/covariance_math.hpp"
#include "pycx/simd.hpp"

namespace pycx {
namespace {

// Columns summed by one task: 64 doubles of accumulators stay in registers/L1 while the rows
// stream past, and wide inputs still split into several tasks per batch entry.
constexpr int64_t kColumnTile = 64;

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
bool center_rows(const T* x, const int64_t* offsets, int64_t B, int64_t n, int64_t dim,
                 int64_t s_row, int64_t s_col, double* mean, double* centred, int threads) {
  if (B == 0 || n == 0 || dim == 0) return true;
  const int nthreads = resolve_threads(threads);
  const int64_t tiles = (dim + kColumnTile - 1) / kColumnTile;
  bool finite = true;
#pragma omp parallel num_threads(nthreads)
  {
#pragma omp for collapse(2) schedule(static) reduction(&& : finite)
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t tile = 0; tile < tiles; ++tile) {
        const int64_t c0 = tile * kColumnTile, width = std::min(kColumnTile, dim - c0);
        double acc[kColumnTile] = {};
        const T* base = x + offsets[b] + c0 * s_col;
        if (s_col == 1) {
          for (int64_t r = 0; r < n; ++r) {
            const T* row = base + r * s_row;
            for (int64_t j = 0; j < width; ++j) acc[j] += static_cast<double>(row[j]);
          }
        } else {
          for (int64_t r = 0; r < n; ++r) {
            const T* row = base + r * s_row;
            for (int64_t j = 0; j < width; ++j) acc[j] += static_cast<double>(row[j * s_col]);
          }
        }
        double* m = mean + b * dim + c0;
        for (int64_t j = 0; j < width; ++j) {
          m[j] = acc[j] / static_cast<double>(n);
          finite = finite && std::isfinite(m[j]);
        }
      }
    }
#pragma omp for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t r = 0; r < n; ++r) {
        const T* row = x + offsets[b] + r * s_row;
        const double* m = mean + b * dim;
        double* out = centred + (b * n + r) * dim;
        if (s_col == 1) {
          for (int64_t j = 0; j < dim; ++j) out[j] = static_cast<double>(row[j]) - m[j];
        } else {
          for (int64_t j = 0; j < dim; ++j) out[j] = static_cast<double>(row[j * s_col]) - m[j];
        }
      }
    }
  }
  return finite;
}

void covariance_merge(int64_t B, int64_t dim, int64_t count_a, double* mean_a, double* m2_a,
                      int64_t count_b, const double* mean_b, const double* m2_b, int threads) {
  if (count_b == 0 || B == 0 || dim == 0) return;
  const ChanWeights w = chan_weights(count_a, count_b);
  std::vector<double> delta(static_cast<size_t>(B * dim));
  for (int64_t k = 0; k < B * dim; ++k) delta[k] = mean_b[k] - mean_a[k];
#pragma omp parallel for collapse(2) schedule(static) num_threads(resolve_threads(threads))
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t i = 0; i < dim; ++i) {
      const double* d = delta.data() + b * dim;
      double* dst = m2_a + (b * dim + i) * dim;
      const double* src = m2_b + (b * dim + i) * dim;
      for (int64_t j = 0; j < dim; ++j) dst[j] = chan_merged_m2(dst[j], src[j], d[i], d[j], w);
    }
  }
  for (int64_t k = 0; k < B * dim; ++k) mean_a[k] = chan_merged_mean(mean_a[k], delta[k], w);
}

template bool center_rows<float>(const float*, const int64_t*, int64_t, int64_t, int64_t, int64_t,
                                 int64_t, double*, double*, int);
template bool center_rows<double>(const double*, const int64_t*, int64_t, int64_t, int64_t,
                                  int64_t, int64_t, double*, double*, int);

}  // namespace pycx
