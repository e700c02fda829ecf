// Helpers shared by the .cu files (nvcc only): error checks, the device guard, stream-ordered
// scratch memory. Outputs are allocated by the caller (Python, with the input's own library);
// only temporaries are allocated here, with cudaMallocAsync on the caller's stream so that they
// follow the same ordering as the kernels that use them.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace pycx::cuda {

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear a non-sticky error so the next call reports its own
    throw std::runtime_error(std::string("pycx._cuda: ") + what + ": " + cudaGetErrorName(err) +
                             ": " + cudaGetErrorString(err));
  }
}

// Checks the launch just made (bad configuration, missing kernel image for this GPU).
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

inline cudaStream_t as_stream(void* stream) { return static_cast<cudaStream_t>(stream); }

// Makes `device` current for the scope (the input's device, which may not be the current one).
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    check(cudaGetDevice(&previous_), "cudaGetDevice");
    if (previous_ != device) check(cudaSetDevice(device), "cudaSetDevice");
  }
  ~DeviceGuard() {
    int now = -1;
    if (cudaGetDevice(&now) == cudaSuccess && now != previous_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

// Stream-ordered temporary buffer, freed (in stream order) when it goes out of scope.
template <typename T>
class Scratch {
 public:
  Scratch(size_t count, cudaStream_t stream) : stream_(stream) {
    if (count > 0) check(cudaMallocAsync(reinterpret_cast<void**>(&ptr_), count * sizeof(T), stream),
                         "cudaMallocAsync");
  }
  ~Scratch() {
    if (ptr_ != nullptr) cudaFreeAsync(ptr_, stream_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* get() const { return ptr_; }

 private:
  T* ptr_ = nullptr;
  cudaStream_t stream_;
};

// Copies one value from device to host and waits for the stream (the caller needs it now).
template <typename T>
T read_back(const T* device_value, cudaStream_t stream) {
  T host{};
  check(cudaMemcpyAsync(&host, device_value, sizeof(T), cudaMemcpyDeviceToHost, stream),
        "cudaMemcpyAsync");
  check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  return host;
}

inline unsigned blocks_for(int64_t items, int threads, int64_t cap = int64_t(1) << 20) {
  int64_t blocks = (items + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  return static_cast<unsigned>(blocks < cap ? blocks : cap);
}

}  // namespace pycx::cuda
