// Math of the Metropolis-Hastings sampler on binary gate states (paper 004's eq. 36 restricted
// to {0, 1}; pycx/train/ebm.py), shared by the CPU kernels and any device port.
//
// Per unit: direction d = 1 - 2 s (+1 turns on, -1 turns off), flip logit
//   l = clamp(0.5 (g + logit p) d - 1 / (2 dtau), -30, 30),
// flip probability sigmoid(l), and log-probability of the unit's part of a flip set
//   flip * l - softplus(l).
// Random numbers come from a counter-based hash of (seed, counter, row, unit), so a result
// does not depend on the number of threads or the SIMD level that computed it.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "pycx/common.hpp"

// Host: internal linkage and forced inlining, so that every call sits inside the ISA-specific
// row loop that vectorises it (an out-of-line copy, merged across files at link time, would be
// a baseline scalar call).
#if defined(__CUDACC__)
#define PYCX_MH PYCX_HD
#elif defined(__GNUC__)
#define PYCX_MH static inline __attribute__((always_inline))
#else
#define PYCX_MH static inline
#endif

namespace pycx::gate_mh {

constexpr double kLogitClamp = 30.0;  // flip probabilities within 1e-13 of 0 or 1

PYCX_MH uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// murmur3's 32-bit finaliser: a bijection with full avalanche.
PYCX_MH uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  h ^= h >> 16;
  return h;
}

// 64-bit key of one row of one call: (seed, counter) name the call, row the chain.
PYCX_MH uint64_t row_key(uint64_t seed, uint64_t counter, uint64_t row) {
  const uint64_t call = splitmix64(seed ^ splitmix64(counter));
  return splitmix64(call + row * 0xD1B54A32D192ED03ull);
}

// 32 random bits for unit j of the row with key `key`: two finaliser rounds, each keyed by one
// half of the row key (one round of a keyed counter is not enough to decorrelate neighbours).
PYCX_MH uint32_t unit_bits(uint64_t key, uint32_t j) {
  const uint32_t k1 = static_cast<uint32_t>(key), k2 = static_cast<uint32_t>(key >> 32);
  return fmix32(fmix32(j * 0x9E3779B9u + k1) ^ k2);
}

// Uniform in [0, 1) on the grid of 2^-24 (float) or 2^-32 (double).
template <typename T>
PYCX_MH T unit_uniform(uint32_t bits) {
  if constexpr (std::is_same_v<T, float>)
    return static_cast<float>(static_cast<int32_t>(bits >> 8)) * (1.0f / 16777216.0f);
  else
    return static_cast<double>(bits) * (1.0 / 4294967296.0);
}

// Uniform in (0, 1) with 53 random bits for the per-row acceptance test.
PYCX_MH double row_uniform(uint64_t key) {
  const uint64_t b = splitmix64(key ^ 0xA0761D6478BD642Full);
  return (static_cast<double>(b >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

// exp(x) for x in [-30, 0], float: Cody-Waite reduction x = k ln2 + r, |r| <= ln2 / 2, a
// degree-6 Taylor polynomial (error < 2e-8 relative on that range), 2^k built in the exponent
// bits. Branch-free, so a loop over units vectorises.
PYCX_MH float exp_nonpositive(float x) {
  const float kMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer in the low bits
  const float t = x * 1.44269504088896341f + kMagic;
  const float k = t - kMagic;
  int32_t tb;
  std::memcpy(&tb, &t, sizeof tb);
  const int32_t ki = tb - 0x4B400000;
  const float r = (x - k * 0.693145751953125f) - k * 1.428606765330187e-06f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t sb = (ki + 127) << 23;  // k in [-44, 0]: a normal float
  float scale;
  std::memcpy(&scale, &sb, sizeof scale);
  return p * scale;
}

PYCX_MH double exp_nonpositive(double x) { return exp(x); }

// log(1 + e) for e in [0, 1], float: log(1 + e) = 2 atanh(z), z = e / (2 + e) in [0, 1/3];
// the odd series to z^13 leaves < 3e-8 relative error.
PYCX_MH float log1p_unit(float e) {
  const float z = e / (2.0f + e);
  const float z2 = z * z;
  float p = 1.0f / 13.0f;
  p = p * z2 + 1.0f / 11.0f;
  p = p * z2 + 1.0f / 9.0f;
  p = p * z2 + 1.0f / 7.0f;
  p = p * z2 + 1.0f / 5.0f;
  p = p * z2 + 1.0f / 3.0f;
  p = p * z2 + 1.0f;
  return 2.0f * z * p;
}

PYCX_MH double log1p_unit(double e) { return log1p(e); }

template <typename T>
PYCX_MH T clamp_logit(T l) {
  const T c = static_cast<T>(kLogitClamp);
  return l < -c ? -c : (l > c ? c : l);
}

// sigmoid(l) and softplus(l) = log(1 + exp(l)) from one e = exp(-|l|) (values, not
// out-parameters: GCC does not vectorise a loop that passes locals by reference).
template <typename T>
PYCX_MH T exp_neg_abs(T l) {
  return exp_nonpositive(-std::fabs(l));
}

template <typename T>
PYCX_MH T sigmoid_from(T l, T e) {
  // e / (1 + e) below 0, 1 / (1 + e) above; arithmetic select: GCC 12 does not if-convert a
  // ternary between e and a constant for AVX2
  const T pos = static_cast<T>(l >= T(0));
  return (pos + (T(1) - pos) * e) / (T(1) + e);
}

template <typename T>
PYCX_MH T softplus_from(T l, T e) {
  return (l > T(0) ? l : T(0)) + log1p_unit(e);  // not std::fmax: a libm call, never vectorised
}

template <typename T>
PYCX_MH T flip_logit(T s, T g, T logit_p, T neg_half_inv) {
  return clamp_logit(T(0.5) * (g + logit_p) * (T(1) - T(2) * s) + neg_half_inv);
}

}  // namespace pycx::gate_mh
