// One Metropolis-Hastings step of the gate-state sampler, in two halves around the caller's
// evaluation of f and its gradient at the proposed states (pycx/train/ebm.py, EBMStack):
//   propose: flips each unit with probability sigmoid(l) and returns, per row, the forward
//            part of the log acceptance ratio, sum_j [move_j logit p_j - flip_j l_j + softplus(l_j)]
//            (log q's change plus minus the log-probability of the flip set);
//   accept:  adds f_new - f and the reverse move's log-probability sum_j [flip_j b_j - softplus(b_j)]
//            (b the flip logits read at the proposed state), accepts each row with probability
//            min(1, exp(ratio)), and copies the accepted rows' state, gradient and f in place.
// Arrays are C-contiguous: states, gradients and moves (L, n, d); f and parts (L, n); logit p
// (L, d); -1 / (2 dtau) per layer (L); accepted counts (L).
#pragma once
#include <cstdint>

#include "pycx/gate_mh_math.hpp"

#if defined(__GNUC__)
#define PYCX_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define PYCX_ALWAYS_INLINE inline
#endif

namespace pycx {

template <typename T>
void gate_mh_propose(const T* s, const T* g, const T* logit_p, const T* neg_half_inv, int64_t L,
                     int64_t n, int64_t d, uint64_t seed, uint64_t counter, T* s_new, T* move,
                     T* part, int threads);

template <typename T>
void gate_mh_accept(T* s, T* g, T* f, const T* s_new, const T* g_new, const T* f_new,
                    const T* move, const T* part, const T* logit_p, const T* neg_half_inv,
                    int64_t L, int64_t n, int64_t d, uint64_t seed, uint64_t counter,
                    int64_t* accepted, int threads);

namespace gate_mh {

// Row bodies, inlined into the baseline, AVX2 and AVX-512 entry points (each compiled for its
// own ISA in its own file; internal linkage, so no copy is shared across ISAs).
template <typename T>
static PYCX_ALWAYS_INLINE T propose_row(const T* __restrict s, const T* __restrict g,
                                        const T* __restrict lp, T nhi, int64_t d,
                                        uint64_t key, T* __restrict s_new, T* __restrict move) {
  T part = 0;
  const int32_t units = static_cast<int32_t>(d);  // < 2^31 (checked in Python); an int32 index
                                                   // keeps every lane 32-bit, which AVX2 needs here
#pragma omp simd reduction(+ : part)
  for (int32_t j = 0; j < units; ++j) {
    const T dir = T(1) - T(2) * s[j];
    const T l = flip_logit(s[j], g[j], lp[j], nhi);
    const T e = exp_neg_abs(l);
    const T p = sigmoid_from(l, e), sp = softplus_from(l, e);
    const T u = unit_uniform<T>(unit_bits(key, static_cast<uint32_t>(j)));
    const T flip = u < p ? T(1) : T(0);
    const T m = flip * dir;
    move[j] = m;
    s_new[j] = s[j] + m;
    part += m * lp[j] - flip * l + sp;
  }
  return part;
}

template <typename T>
static PYCX_ALWAYS_INLINE T reverse_row(const T* s_new, const T* g_new, const T* move,
                                        const T* lp, T nhi, int64_t d) {
  T rev = 0;
  const int32_t units = static_cast<int32_t>(d);
#pragma omp simd reduction(+ : rev)
  for (int32_t j = 0; j < units; ++j) {
    const T b = flip_logit(s_new[j], g_new[j], lp[j], nhi);
    const T flip = move[j] * move[j];
    rev += flip * b - softplus_from(b, exp_neg_abs(b));
  }
  return rev;
}

}  // namespace gate_mh

// Defines the row loops of one ISA (csrc/gate_mh_<isa>.cpp): the shared row bodies above,
// vectorised by the compiler for that ISA's target attribute.
#define PYCX_GATE_MH_ROW_LOOPS(ISA, TARGET)                                                     \
  TARGET void gate_mh_propose_rows_##ISA(const float* s, const float* g, const float* lp,       \
                                         float nhi, int64_t rows, int64_t d, uint64_t seed,      \
                                         uint64_t counter, int64_t row0, float* s_new,           \
                                         float* move, float* part) {                             \
    for (int64_t r = 0; r < rows; ++r) {                                                         \
      const uint64_t key = gate_mh::row_key(seed, counter, static_cast<uint64_t>(row0 + r));     \
      part[r] = gate_mh::propose_row(s + r * d, g + r * d, lp, nhi, d, key, s_new + r * d,       \
                                     move + r * d);                                              \
    }                                                                                            \
  }                                                                                              \
  TARGET void gate_mh_reverse_rows_##ISA(const float* s_new, const float* g_new,                \
                                         const float* move, const float* lp, float nhi,          \
                                         int64_t rows, int64_t d, float* rev) {                  \
    for (int64_t r = 0; r < rows; ++r)                                                           \
      rev[r] = gate_mh::reverse_row(s_new + r * d, g_new + r * d, move + r * d, lp, nhi, d);     \
  }

namespace simd_impl {
void gate_mh_propose_rows_avx2(const float* s, const float* g, const float* lp, float nhi,
                               int64_t rows, int64_t d, uint64_t seed, uint64_t counter,
                               int64_t row0, float* s_new, float* move, float* part);
void gate_mh_reverse_rows_avx2(const float* s_new, const float* g_new, const float* move,
                               const float* lp, float nhi, int64_t rows, int64_t d, float* rev);
void gate_mh_propose_rows_avx512(const float* s, const float* g, const float* lp, float nhi,
                                 int64_t rows, int64_t d, uint64_t seed, uint64_t counter,
                                 int64_t row0, float* s_new, float* move, float* part);
void gate_mh_reverse_rows_avx512(const float* s_new, const float* g_new, const float* move,
                                 const float* lp, float nhi, int64_t rows, int64_t d, float* rev);
}  // namespace simd_impl

}  // namespace pycx
