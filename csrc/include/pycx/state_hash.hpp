// 64-bit hash of a packed gate row, shared by the CPU and CUDA state counters. Every word goes
// through a full-avalanche mixer (the murmur3/splitmix finaliser) chained with the running
// hash, so rows that differ in any single bit of any word get unrelated hashes. Equal hashes
// never decide equality: callers compare the full rows.
#pragma once
#include <cstdint>

#include "pycx/common.hpp"

namespace pycx {

PYCX_HD uint64_t mix64(uint64_t z) {
  z ^= z >> 33;
  z *= 0xff51afd7ed558ccdULL;
  z ^= z >> 33;
  z *= 0xc4ceb9fe1a85ec53ULL;
  z ^= z >> 33;
  return z;
}

// The word count seeds the hash so that rows of different widths never share a sequence.
PYCX_HD uint64_t hash_row(const uint64_t* row, int64_t n_words) {
  uint64_t h = 0x243f6a8885a308d3ULL ^ static_cast<uint64_t>(n_words);
  // mix64 is a bijection, so two rows equal up to word i and different in word i always get
  // different hashes after step i; the added odd constant keeps zero from being a fixed point.
  for (int64_t i = 0; i < n_words; ++i) h = mix64(h ^ row[i]) + 0x9e3779b97f4a7c15ULL;
  return h;
}

}  // namespace pycx
