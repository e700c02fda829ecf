// Host-side interface of the CUDA module (no CUDA or pybind11 types: the bindings are
// compiled by the host compiler).
#pragma once
#include <string>

namespace pycx::cuda {

struct DeviceProbe {
  int device_count = 0;     // usable CUDA devices (0 when the runtime reports an error)
  std::string error;        // the CUDA error text when no device is usable, else empty
  std::string name;         // name of device 0
  int compute_capability = 0;  // major * 10 + minor of device 0
  int multiprocessor_count = 0;    // of device 0 (benchmarks: peak rates)
  int clock_khz = 0;               // SM clock of device 0
  int memory_clock_khz = 0;        // memory clock of device 0
  int memory_bus_width_bits = 0;   // of device 0
  int runtime_version = 0;
  int driver_version = 0;
};

// Queries the CUDA runtime. This initialises CUDA, so it is only called when asked
// (pycx.build_info(), or the first GPU kernel).
DeviceProbe probe_devices();

}  // namespace pycx::cuda
