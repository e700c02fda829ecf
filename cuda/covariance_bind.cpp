// Bindings of the CUDA batched covariance (device pointers; batch offsets as a host list).
#include <pybind11/stl.h>

#include <stdexcept>
#include <vector>

#include "covariance.hpp"
#include "device_bind.hpp"
#include "pycx/bind_util.hpp"

namespace pycx::bind {

PYCX_BINDINGS(covariance) {
  m.def(
      "covariance_update",
      [](bool is_double, uintptr_t x, const std::vector<int64_t>& batch_offsets, int64_t n,
         int64_t dim, int64_t s_row, int64_t s_col, int64_t count, uintptr_t mean, uintptr_t m2,
         int device, uintptr_t stream) {
        py::gil_scoped_release release;
        return cuda::covariance_update(is_double, device_ptr<const void>(x), batch_offsets.data(),
                                       static_cast<int64_t>(batch_offsets.size()), n, dim, s_row,
                                       s_col, count, device_ptr<double>(mean),
                                       device_ptr<double>(m2), device, device_ptr<void>(stream));
      },
      py::arg("is_double"), py::arg("x"), py::arg("batch_offsets"), py::arg("n"), py::arg("dim"),
      py::arg("s_row"), py::arg("s_col"), py::arg("count"), py::arg("mean"), py::arg("m2"),
      py::arg("device"), py::arg("stream"),
      "Folds n rows per batch entry into (count, mean, m2); False (state untouched) if a mean "
      "is not finite. Synchronises.");
  m.def(
      "covariance_merge",
      [](int64_t B, int64_t dim, int64_t count_a, uintptr_t mean_a, uintptr_t m2_a,
         int64_t count_b, uintptr_t mean_b, uintptr_t m2_b, int device, uintptr_t stream) {
        py::gil_scoped_release release;
        cuda::covariance_merge(B, dim, count_a, device_ptr<double>(mean_a),
                               device_ptr<double>(m2_a), count_b, device_ptr<const double>(mean_b),
                               device_ptr<const double>(m2_b), device, device_ptr<void>(stream));
      },
      py::arg("B"), py::arg("dim"), py::arg("count_a"), py::arg("mean_a"), py::arg("m2_a"),
      py::arg("count_b"), py::arg("mean_b"), py::arg("m2_b"), py::arg("device"),
      py::arg("stream"));
}

}  // namespace pycx::bind
