#include <cuda_runtime.h>

#include "device.hpp"

namespace pycx::cuda {

DeviceProbe probe_devices() {
  DeviceProbe probe;
  cudaRuntimeGetVersion(&probe.runtime_version);
  cudaDriverGetVersion(&probe.driver_version);
  const cudaError_t err = cudaGetDeviceCount(&probe.device_count);
  if (err != cudaSuccess) {
    probe.device_count = 0;
    probe.error = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error so later calls report their own
    return probe;
  }
  if (probe.device_count == 0) {
    probe.error = "no CUDA device is visible";
    return probe;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
    probe.name = prop.name;
    probe.compute_capability = prop.major * 10 + prop.minor;
  }
  // Clocks are device attributes (no longer fields of cudaDeviceProp in recent toolkits).
  cudaDeviceGetAttribute(&probe.multiprocessor_count, cudaDevAttrMultiProcessorCount, 0);
  cudaDeviceGetAttribute(&probe.clock_khz, cudaDevAttrClockRate, 0);
  cudaDeviceGetAttribute(&probe.memory_clock_khz, cudaDevAttrMemoryClockRate, 0);
  cudaDeviceGetAttribute(&probe.memory_bus_width_bits, cudaDevAttrGlobalMemoryBusWidth, 0);
  cudaGetLastError();  // an attribute this GPU lacks leaves zeros, not a sticky error
  return probe;
}

}  // namespace pycx::cuda
