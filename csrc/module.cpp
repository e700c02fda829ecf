// pycx._cpu: one registration call per operation; each lives in csrc/<op>_bind.cpp.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace pycx::bind {
void simd(py::module_& m);
void pack_bits(py::module_& m);
}  // namespace pycx::bind

PYBIND11_MODULE(_cpu, m) {
  m.doc() = "pycx CPU kernels (use the public functions in `pycx`, which validate their input)";
  pycx::bind::simd(m);
  pycx::bind::pack_bits(m);
}
