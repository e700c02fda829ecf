// pycx._cuda bindings (host compiler; no pybind11 in .cu files).
#include <pybind11/pybind11.h>

#include "device.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "pycx CUDA kernels (use the public functions in `pycx`)";
  m.attr("architectures") = PYCX_CUDA_ARCHS;
  m.def("probe_devices", [] {
    pycx::cuda::DeviceProbe p;
    {
      py::gil_scoped_release release;
      p = pycx::cuda::probe_devices();
    }
    py::dict d;
    d["device_count"] = p.device_count;
    d["error"] = p.error;
    d["name"] = p.name;
    d["compute_capability"] = p.compute_capability;
    d["runtime_version"] = p.runtime_version;
    d["driver_version"] = p.driver_version;
    return d;
  });
}
