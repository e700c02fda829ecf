// Bindings of the CUDA bit-packing kernels. Arrays arrive as device pointers (integers read
// from __cuda_array_interface__ in pycx/kernels/_device.py) with shapes and element strides;
// outputs are allocated by the caller with the input's own library.
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "device_bind.hpp"
#include "pack_bits.hpp"
#include "pycx/bind_util.hpp"

namespace pycx::bind {

namespace {
cuda::GateType gate_type(const std::string& name) {
  if (name == "float32") return cuda::GateType::f32;
  if (name == "float64") return cuda::GateType::f64;
  if (name == "bool") return cuda::GateType::b8;
  if (name == "uint8") return cuda::GateType::u8;
  if (name == "int8") return cuda::GateType::i8;
  if (name == "int16") return cuda::GateType::i16;
  if (name == "int32") return cuda::GateType::i32;
  if (name == "int64") return cuda::GateType::i64;
  throw std::invalid_argument("pycx._cuda: unsupported gate dtype " + name);
}
}  // namespace

PYCX_BINDINGS(pack_bits) {
  m.def(
      "pack_patches",
      [](const std::string& dtype, uintptr_t x, int64_t N, int64_t C, int64_t H, int64_t W,
         int64_t s_n, int64_t s_c, int64_t s_h, int64_t s_w, double threshold, uintptr_t out,
         uintptr_t nan_flag, int device, uintptr_t stream) {
        const cuda::GateType type = gate_type(dtype);
        py::gil_scoped_release release;
        cuda::pack_patches(type, device_ptr<const void>(x), N, C, H, W, s_n, s_c, s_h, s_w, threshold,
                           device_ptr<uint64_t>(out), device_ptr<int32_t>(nan_flag), device, device_ptr<void>(stream));
      },
      py::arg("dtype"), py::arg("x"), py::arg("N"), py::arg("C"), py::arg("H"), py::arg("W"),
      py::arg("s_n"), py::arg("s_c"), py::arg("s_h"), py::arg("s_w"), py::arg("threshold"),
      py::arg("out"), py::arg("nan_flag"), py::arg("device"), py::arg("stream"),
      "Packs (N, C, H, W) gates (element strides) into N*H*W rows of C bits; sets *nan_flag "
      "on NaN. Rows of a 2-D array: H = W = 1.");

  m.def(
      "concat_bits",
      [](const std::vector<uintptr_t>& parts, const std::vector<int64_t>& part_bits,
         int64_t n_rows, uintptr_t out, int device, uintptr_t stream) {
        if (parts.size() != part_bits.size())
          throw std::invalid_argument("concat_bits: parts and part_bits differ in length");
        std::vector<const uint64_t*> ptrs;
        for (uintptr_t p : parts) ptrs.push_back(device_ptr<const uint64_t>(p));
        py::gil_scoped_release release;
        cuda::concat_bits(ptrs.data(), part_bits.data(), static_cast<int>(ptrs.size()), n_rows,
                          device_ptr<uint64_t>(out), device, device_ptr<void>(stream));
      },
      py::arg("parts"), py::arg("part_bits"), py::arg("n_rows"), py::arg("out"),
      py::arg("device"), py::arg("stream"));

  m.def(
      "unpack_bits",
      [](uintptr_t words, int64_t n_rows, int64_t n_bits, uintptr_t bits, int device,
         uintptr_t stream) {
        py::gil_scoped_release release;
        cuda::unpack_bits(device_ptr<const uint64_t>(words), n_rows, n_bits, device_ptr<uint8_t>(bits), device,
                          device_ptr<void>(stream));
      },
      py::arg("words"), py::arg("n_rows"), py::arg("n_bits"), py::arg("bits"), py::arg("device"),
      py::arg("stream"));
}

}  // namespace pycx::bind
