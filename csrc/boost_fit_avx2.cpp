// AVX2 build of the booster's histogram loop (pycx/boost_fit.hpp): features in blocks of 8,
// whose 8 accumulators (bins 0/1 x gradient/hessian x 2 vectors of 4) stay in registers over
// all the node's points. A point's bits select, per lane, the gradient or +0.0 (a 16-entry
// table of lane masks per 4 bits); adding +0.0 leaves a sum unchanged (sums start at +0.0 and
// no term is -0.0), so each bin's sum is XGBoost's sequence of additions, bit for bit.
#include "pycx/boost_fit.hpp"
#include "pycx/simd.hpp"

#if PYCX_X86
#include <immintrin.h>

namespace pycx::simd_impl {
namespace {

struct alignas(32) LaneMasks {
  uint64_t lane[16][4];
  constexpr LaneMasks() : lane{} {
    for (int m = 0; m < 16; ++m)
      for (int k = 0; k < 4; ++k) lane[m][k] = ((m >> k) & 1) ? ~uint64_t{0} : uint64_t{0};
  }
};
constexpr LaneMasks kLaneMasks{};

}  // namespace

PYCX_TARGET_AVX2 void boost_fit_hist_avx2(const uint64_t* rows, int64_t words,
                                          int64_t n_features, const int32_t* points,
                                          int64_t n_points, const float* grad, const float* hess,
                                          double* g0, double* g1, double* h0, double* h1) {
  for (int64_t base = 0; base < n_features; base += 8) {
    const int64_t word = base >> 6;
    const int shift = static_cast<int>(base & 63);
    __m256d G0a = _mm256_setzero_pd(), G0b = G0a, G1a = G0a, G1b = G0a;
    __m256d H0a = G0a, H0b = G0a, H1a = G0a, H1b = G0a;
    for (int64_t k = 0; k < n_points; ++k) {
      const int64_t p = points[k];
      const unsigned bits = static_cast<unsigned>(rows[p * words + word] >> shift) & 0xffu;
      const __m256d g = _mm256_set1_pd(static_cast<double>(grad[p]));
      const __m256d h = _mm256_set1_pd(static_cast<double>(hess[p]));
      const __m256d ma = _mm256_load_pd(reinterpret_cast<const double*>(kLaneMasks.lane[bits & 15u]));
      const __m256d mb = _mm256_load_pd(reinterpret_cast<const double*>(kLaneMasks.lane[bits >> 4]));
      G1a = _mm256_add_pd(G1a, _mm256_and_pd(ma, g));
      G0a = _mm256_add_pd(G0a, _mm256_andnot_pd(ma, g));
      H1a = _mm256_add_pd(H1a, _mm256_and_pd(ma, h));
      H0a = _mm256_add_pd(H0a, _mm256_andnot_pd(ma, h));
      G1b = _mm256_add_pd(G1b, _mm256_and_pd(mb, g));
      G0b = _mm256_add_pd(G0b, _mm256_andnot_pd(mb, g));
      H1b = _mm256_add_pd(H1b, _mm256_and_pd(mb, h));
      H0b = _mm256_add_pd(H0b, _mm256_andnot_pd(mb, h));
    }
    alignas(32) double out[4][8];
    _mm256_store_pd(out[0], G0a);
    _mm256_store_pd(out[0] + 4, G0b);
    _mm256_store_pd(out[1], G1a);
    _mm256_store_pd(out[1] + 4, G1b);
    _mm256_store_pd(out[2], H0a);
    _mm256_store_pd(out[2] + 4, H0b);
    _mm256_store_pd(out[3], H1a);
    _mm256_store_pd(out[3] + 4, H1b);
    const int64_t n = (n_features - base) < 8 ? (n_features - base) : 8;
    ::pycx::boost_fit_detail::store_block(&out[0][0], 8, base, n, g0, g1, h0, h1);
  }
}

}  // namespace pycx::simd_impl
#endif
