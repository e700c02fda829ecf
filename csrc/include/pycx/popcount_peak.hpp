// Peak xor+popcount rate of this machine: the register-blocked kernel of the Hamming sums
// (kde_sums.hpp) run over a block that stays in L1, on every thread. The KDE benchmarks report
// their rate as a fraction of this one.
#pragma once
#include <cstdint>

namespace pycx {

// Runs the active SIMD level's block kernel for about `seconds` on `threads` threads (0: the
// OpenMP default) and returns 64-bit word pairs xor-ed and popcounted per second, all threads.
double xor_popcount_peak(double seconds, int threads);

}  // namespace pycx
