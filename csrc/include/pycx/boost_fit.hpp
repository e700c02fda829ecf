// Gradient-boosted depth-limited trees on binary features (the chain rule's classifiers,
// pycx/estimators/xgb.py): XGBoost's "hist" algorithm for binary:logistic, specialised to
// 0/1 features stored as packed bits. Every rounding step follows XGBoost (float gradients,
// double histograms summed in row order, the smaller child built and its sibling subtracted,
// float split gains, ties to the lower feature), so that the trees and predictions are those
// of XGBoost itself; tests/test_boost_fit.py compares them bit for bit.
#pragma once

#include <cstdint>

namespace pycx {

struct BoostParams {
  int rounds;             // boosting rounds (trees)
  int max_depth;          // >= 1
  float eta;              // learning rate
  double lambda;          // L2 regularisation of leaf weights
  double min_child_weight;
};

// Trains on `n_train` points (packed rows of `words` 64-bit words; bit j of a row is feature
// j, j < n_features; higher bits are ignored), labels in {0, 1} and weights (float32, as
// XGBoost stores them), then writes P(label = 1) of the `n_test` packed test rows.
void boost_fit_predict(const uint64_t* train, int64_t n_train, int64_t words, int64_t n_features,
                       const float* label, const float* weight, const uint64_t* test,
                       int64_t n_test, const BoostParams& params, float* prob_out);

// Histogram of one node: for each feature j, the (gradient, hessian) sums over the node's
// points with bit j = 0 (g0, h0) and = 1 (g1, h1), added in the order of `points`. One build
// per ISA (csrc/boost_fit_avx2.cpp, csrc/boost_fit_avx512.cpp, the portable loop in
// csrc/boost_fit.cpp); all add the same terms in the same order.
namespace boost_fit_detail {

// Writes the first `n` lanes of a block's four accumulators (bins 0/1 of gradient/hessian,
// `width` lanes each, in `out[4][width]`) to the histogram at feature `base`.
inline void store_block(const double* out, int64_t width, int64_t base, int64_t n, double* g0,
                        double* g1, double* h0, double* h1) {
  for (int64_t j = 0; j < n; ++j) {
    g0[base + j] = out[j];
    g1[base + j] = out[width + j];
    h0[base + j] = out[2 * width + j];
    h1[base + j] = out[3 * width + j];
  }
}

}  // namespace boost_fit_detail

namespace simd_impl {
void boost_fit_hist_avx2(const uint64_t* rows, int64_t words, int64_t n_features,
                         const int32_t* points, int64_t n_points, const float* grad,
                         const float* hess, double* g0, double* g1, double* h0, double* h1);
void boost_fit_hist_avx512(const uint64_t* rows, int64_t words, int64_t n_features,
                           const int32_t* points, int64_t n_points, const float* grad,
                           const float* hess, double* g0, double* g1, double* h0, double* h1);
}  // namespace simd_impl

}  // namespace pycx
