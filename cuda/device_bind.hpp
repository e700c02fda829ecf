// Helpers of the CUDA bindings: device arrays arrive as integers (addresses read from
// __cuda_array_interface__ by pycx/kernels/_device.py); 0 stands for "absent".
#pragma once
#include <cstdint>

namespace pycx::bind {

template <typename T>
inline T* device_ptr(uintptr_t address) {
  return reinterpret_cast<T*>(address);
}

}  // namespace pycx::bind
