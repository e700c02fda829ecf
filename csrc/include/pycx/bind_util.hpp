// Helpers for the pybind11 bindings: buffers to pointers and fresh outputs. Input is validated
// in Python (pycx/_validate.py); these only guard against misuse of the private module.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace pycx::bind {

namespace py = pybind11;

// Each <op>_bind.cpp registers its binding function with PYCX_BINDINGS(op) { ... }; the module
// calls them all (in name order), so adding an operation never edits a shared file.
using Binder = void (*)(py::module_&);
inline std::vector<std::pair<std::string, Binder>>& binders() {
  static std::vector<std::pair<std::string, Binder>> all;
  return all;
}
struct RegisterBinder {
  RegisterBinder(const char* name, Binder f) { binders().emplace_back(name, f); }
};
#define PYCX_BINDINGS(op)                                                      \
  static void pycx_bind_##op(::pybind11::module_& m);                          \
  static ::pycx::bind::RegisterBinder pycx_register_##op(#op, &pycx_bind_##op); \
  static void pycx_bind_##op(::pybind11::module_& m)

// Calls f(T{}) with T the C++ type of the array's dtype (the gate dtypes pycx accepts).
template <typename F>
decltype(auto) dispatch_gate_dtype(const py::array& a, F&& f) {
  const py::dtype dt = a.dtype();
  if (dt.is(py::dtype::of<float>())) return f(float{});
  if (dt.is(py::dtype::of<double>())) return f(double{});
  if (dt.is(py::dtype::of<bool>())) return f(bool{});
  if (dt.is(py::dtype::of<uint8_t>())) return f(uint8_t{});
  if (dt.is(py::dtype::of<int8_t>())) return f(int8_t{});
  if (dt.is(py::dtype::of<int16_t>())) return f(int16_t{});
  if (dt.is(py::dtype::of<int32_t>())) return f(int32_t{});
  if (dt.is(py::dtype::of<int64_t>())) return f(int64_t{});
  throw std::invalid_argument("unsupported dtype " + std::string(py::str(dt)));
}

// Element stride of axis `axis` (numpy strides are in bytes).
inline int64_t elem_stride(const py::array& a, int axis) {
  return static_cast<int64_t>(a.strides(axis) / static_cast<py::ssize_t>(a.itemsize()));
}

inline py::array_t<uint64_t> new_words(int64_t rows, int64_t words) {
  return py::array_t<uint64_t>({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(words)});
}


}  // namespace pycx::bind
