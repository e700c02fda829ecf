// Bindings of the CUDA Hamming distances / kernel sums (device pointers; 0 = absent, but
// B = A is the explicit `symmetric` flag: an empty array's address is 0 too).
#include "device_bind.hpp"
#include "kde_sums.hpp"
#include "pycx/bind_util.hpp"

namespace pycx::bind {

PYCX_BINDINGS(kde_sums) {
  m.def(
      "kde_sums",
      [](uintptr_t a, int64_t n, uintptr_t b, int64_t m, bool symmetric, int64_t n_bits,
         double s2, uintptr_t weights, uintptr_t labels, uintptr_t b_labels, uintptr_t total,
         uintptr_t same, int device, uintptr_t stream) {
        py::gil_scoped_release release;
        cuda::kde_sums(device_ptr<const uint64_t>(a), n, device_ptr<const uint64_t>(b), m,
                       symmetric, n_bits, s2, device_ptr<const double>(weights),
                       device_ptr<const int64_t>(labels), device_ptr<const int64_t>(b_labels),
                       device_ptr<double>(total), device_ptr<double>(same), device,
                       device_ptr<void>(stream));
      },
      py::arg("a"), py::arg("n"), py::arg("b"), py::arg("m"), py::arg("symmetric"),
      py::arg("n_bits"), py::arg("s2"), py::arg("weights"), py::arg("labels"),
      py::arg("b_labels"), py::arg("total"), py::arg("same"), py::arg("device"),
      py::arg("stream"),
      "Kernel sums into total/same (float64, length n); symmetric: B = A (b, m ignored).");

  m.def(
      "hamming_distances",
      [](uintptr_t a, int64_t n, uintptr_t b, int64_t m, bool symmetric, int64_t n_bits,
         uintptr_t out, int device, uintptr_t stream) {
        py::gil_scoped_release release;
        cuda::hamming_distances(device_ptr<const uint64_t>(a), n, device_ptr<const uint64_t>(b),
                                m, symmetric, n_bits, device_ptr<int32_t>(out), device,
                                device_ptr<void>(stream));
      },
      py::arg("a"), py::arg("n"), py::arg("b"), py::arg("m"), py::arg("symmetric"),
      py::arg("n_bits"), py::arg("out"), py::arg("device"), py::arg("stream"),
      "(n, m) int32 distances into out; symmetric: B = A (b, m ignored).");
}

}  // namespace pycx::bind
