// AVX-512 build of the booster's histogram loop (pycx/boost_fit.hpp): features in blocks of
// 32, whose 16 accumulators (bins 0/1 x gradient/hessian x 4 vectors of 8) stay in registers
// over all the node's points; a point's bits are the add masks. A masked add leaves a lane
// untouched, so each bin's sum is XGBoost's sequence of additions, bit for bit.
#include "pycx/boost_fit.hpp"
#include "pycx/simd.hpp"

#if PYCX_X86
#include <immintrin.h>

namespace pycx::simd_impl {

PYCX_TARGET_AVX512 void boost_fit_hist_avx512(const uint64_t* rows, int64_t words,
                                              int64_t n_features, const int32_t* points,
                                              int64_t n_points, const float* grad,
                                              const float* hess, double* g0, double* g1,
                                              double* h0, double* h1) {
  for (int64_t base = 0; base < n_features; base += 32) {
    const int64_t word = base >> 6;
    const int shift = static_cast<int>(base & 63);
    __m512d G0[4], G1[4], H0[4], H1[4];
    for (int q = 0; q < 4; ++q) {
      G0[q] = G1[q] = H0[q] = H1[q] = _mm512_setzero_pd();
    }
    for (int64_t k = 0; k < n_points; ++k) {
      const int64_t p = points[k];
      const uint32_t bits = static_cast<uint32_t>(rows[p * words + word] >> shift);
      const __m512d g = _mm512_set1_pd(static_cast<double>(grad[p]));
      const __m512d h = _mm512_set1_pd(static_cast<double>(hess[p]));
      for (int q = 0; q < 4; ++q) {
        const __mmask8 one = static_cast<__mmask8>(bits >> (8 * q));
        const __mmask8 zero = static_cast<__mmask8>(~one);
        G1[q] = _mm512_mask_add_pd(G1[q], one, G1[q], g);
        G0[q] = _mm512_mask_add_pd(G0[q], zero, G0[q], g);
        H1[q] = _mm512_mask_add_pd(H1[q], one, H1[q], h);
        H0[q] = _mm512_mask_add_pd(H0[q], zero, H0[q], h);
      }
    }
    alignas(64) double out[4][32];
    for (int q = 0; q < 4; ++q) {
      _mm512_store_pd(out[0] + 8 * q, G0[q]);
      _mm512_store_pd(out[1] + 8 * q, G1[q]);
      _mm512_store_pd(out[2] + 8 * q, H0[q]);
      _mm512_store_pd(out[3] + 8 * q, H1[q]);
    }
    const int64_t n = (n_features - base) < 32 ? (n_features - base) : 32;
    ::pycx::boost_fit_detail::store_block(&out[0][0], 32, base, n, g0, g1, h0, h1);
  }
}

}  // namespace pycx::simd_impl
#endif
