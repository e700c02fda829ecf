// pycx._cpu: every csrc/<op>_bind.cpp registers itself with PYCX_BINDINGS(op).
#include <algorithm>

#include "pycx/bind_util.hpp"

PYBIND11_MODULE(_cpu, m) {
  m.doc() = "pycx CPU kernels (use the public functions in `pycx`, which validate their input)";
  auto binders = pycx::bind::binders();
  std::sort(binders.begin(), binders.end());
  for (const auto& [name, bind] : binders) bind(m);
}
