// Gate-state Metropolis-Hastings step (pycx/gate_mh.hpp): OpenMP over rows, float32 rows
// through the AVX2 / AVX-512 builds when the CPU has them; float64 and the baseline level use
// the same row bodies compiled with baseline flags.
#include "pycx/gate_mh.hpp"

#include <omp.h>

#include <cmath>

#include "pycx/simd.hpp"

namespace pycx {
namespace {

// Rows per OpenMP chunk: the row bodies are short (d units), so rows are handed out in blocks.
constexpr int64_t kRowsPerChunk = 16;

template <typename T>
void propose_rows(const T* s, const T* g, const T* lp, T nhi, int64_t rows, int64_t d,
                  uint64_t seed, uint64_t counter, int64_t row0, T* s_new, T* move, T* part,
                  SimdLevel level) {
  if constexpr (std::is_same_v<T, float>) {  // vector versions exist for float32 only
    using RowsFn = void (*)(const float*, const float*, const float*, float, int64_t, int64_t,
                            uint64_t, uint64_t, int64_t, float*, float*, float*);
    const RowsFn vector = PYCX_SIMD_VECTOR(RowsFn, level, simd_impl::gate_mh_propose_rows_avx512,
                                           simd_impl::gate_mh_propose_rows_avx2);
    if (vector != nullptr)
      return vector(s, g, lp, nhi, rows, d, seed, counter, row0, s_new, move, part);
  }
  for (int64_t r = 0; r < rows; ++r) {
    const uint64_t key = gate_mh::row_key(seed, counter, static_cast<uint64_t>(row0 + r));
    part[r] = gate_mh::propose_row(s + r * d, g + r * d, lp, nhi, d, key, s_new + r * d,
                                   move + r * d);
  }
}

template <typename T>
void reverse_rows(const T* s_new, const T* g_new, const T* move, const T* lp, T nhi,
                  int64_t rows, int64_t d, T* rev, SimdLevel level) {
  if constexpr (std::is_same_v<T, float>) {
    using RowsFn = void (*)(const float*, const float*, const float*, const float*, float,
                            int64_t, int64_t, float*);
    const RowsFn vector = PYCX_SIMD_VECTOR(RowsFn, level, simd_impl::gate_mh_reverse_rows_avx512,
                                           simd_impl::gate_mh_reverse_rows_avx2);
    if (vector != nullptr) return vector(s_new, g_new, move, lp, nhi, rows, d, rev);
  }
  for (int64_t r = 0; r < rows; ++r)
    rev[r] = gate_mh::reverse_row(s_new + r * d, g_new + r * d, move + r * d, lp, nhi, d);
}

}  // namespace

template <typename T>
void gate_mh_propose(const T* s, const T* g, const T* logit_p, const T* neg_half_inv, int64_t L,
                     int64_t n, int64_t d, uint64_t seed, uint64_t counter, T* s_new, T* move,
                     T* part, int threads) {
  const SimdLevel level = active_simd_level();
  const int64_t rows = L * n, chunks = (rows + kRowsPerChunk - 1) / kRowsPerChunk;
#pragma omp parallel for schedule(static) num_threads(resolve_threads(threads))
  for (int64_t c = 0; c < chunks; ++c) {
    // a chunk never straddles two layers' parameters: split it at the layer boundary
    for (int64_t r0 = c * kRowsPerChunk, end = std::min(rows, r0 + kRowsPerChunk); r0 < end;) {
      const int64_t layer = r0 / n, stop = std::min(end, (layer + 1) * n);
      propose_rows(s + r0 * d, g + r0 * d, logit_p + layer * d, neg_half_inv[layer], stop - r0,
                   d, seed, counter, r0, s_new + r0 * d, move + r0 * d, part + r0, level);
      r0 = stop;
    }
  }
}

template <typename T>
void gate_mh_accept(T* s, T* g, T* f, const T* s_new, const T* g_new, const T* f_new,
                    const T* move, const T* part, const T* logit_p, const T* neg_half_inv,
                    int64_t L, int64_t n, int64_t d, uint64_t seed, uint64_t counter,
                    int64_t* accepted, int threads) {
  const SimdLevel level = active_simd_level();
  const int64_t rows = L * n, chunks = (rows + kRowsPerChunk - 1) / kRowsPerChunk;
  for (int64_t l = 0; l < L; ++l) accepted[l] = 0;
#pragma omp parallel for schedule(static) num_threads(resolve_threads(threads))
  for (int64_t c = 0; c < chunks; ++c) {
    T rev[kRowsPerChunk];
    for (int64_t r0 = c * kRowsPerChunk, end = std::min(rows, r0 + kRowsPerChunk); r0 < end;) {
      const int64_t layer = r0 / n, stop = std::min(end, (layer + 1) * n);
      reverse_rows(s_new + r0 * d, g_new + r0 * d, move + r0 * d, logit_p + layer * d,
                   neg_half_inv[layer], stop - r0, d, rev, level);
      int64_t taken = 0;
      for (int64_t r = r0; r < stop; ++r) {
        const double log_ratio = static_cast<double>(f_new[r]) - static_cast<double>(f[r]) +
                                 static_cast<double>(part[r]) + static_cast<double>(rev[r - r0]);
        const double u = gate_mh::row_uniform(gate_mh::row_key(seed, counter, static_cast<uint64_t>(r)));
        if (std::log(u) < log_ratio) {
          for (int64_t j = 0; j < d; ++j) {
            s[r * d + j] = s_new[r * d + j];
            g[r * d + j] = g_new[r * d + j];
          }
          f[r] = f_new[r];
          ++taken;
        }
      }
      if (taken) {
#pragma omp atomic
        accepted[layer] += taken;
      }
      r0 = stop;
    }
  }
}

#define PYCX_GATE_MH_INSTANTIATE(T)                                                            \
  template void gate_mh_propose<T>(const T*, const T*, const T*, const T*, int64_t, int64_t,  \
                                   int64_t, uint64_t, uint64_t, T*, T*, T*, int);              \
  template void gate_mh_accept<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*, \
                                  const T*, const T*, int64_t, int64_t, int64_t, uint64_t,     \
                                  uint64_t, int64_t*, int);
PYCX_GATE_MH_INSTANTIATE(float)
PYCX_GATE_MH_INSTANTIATE(double)
#undef PYCX_GATE_MH_INSTANTIATE

}  // namespace pycx
