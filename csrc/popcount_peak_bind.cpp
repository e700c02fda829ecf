#include "pycx/bind_util.hpp"
#include "pycx/popcount_peak.hpp"

namespace pycx::bind {

PYCX_BINDINGS(popcount_peak) {
  m.def(
      "xor_popcount_peak",
      [](double seconds, int threads) {
        py::gil_scoped_release release;
        return xor_popcount_peak(seconds, threads);
      },
      py::arg("seconds"), py::arg("threads"),
      "Word pairs (64-bit) xor+popcounted per second by the register-blocked kernel of the "
      "active SIMD level on in-L1 data, all threads (threads=0: the OpenMP default).");
}

}  // namespace pycx::bind
