// pycx._cuda bindings (host compiler; no pybind11 in .cu files). Every cuda/<op>_bind.cpp
// registers itself with PYCX_BINDINGS(op), as the CPU module's do.
#include <pybind11/pybind11.h>

#include <algorithm>

#include "device.hpp"
#include "pycx/bind_util.hpp"

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
    d["multiprocessor_count"] = p.multiprocessor_count;
    d["clock_khz"] = p.clock_khz;
    d["memory_clock_khz"] = p.memory_clock_khz;
    d["memory_bus_width_bits"] = p.memory_bus_width_bits;
    d["runtime_version"] = p.runtime_version;
    d["driver_version"] = p.driver_version;
    return d;
  });
  auto binders = pycx::bind::binders();
  std::sort(binders.begin(), binders.end());
  for (const auto& [name, bind] : binders) bind(m);
}
