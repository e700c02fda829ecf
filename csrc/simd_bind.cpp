#include <pybind11/stl.h>

#include "pycx/bind_util.hpp"

#include "pycx/simd.hpp"

namespace pycx::bind {

PYCX_BINDINGS(simd) {
  active_simd_level();  // resolve PYCX_SIMD now so a bad value fails the import, not a kernel
  m.attr("version") = PYCX_VERSION;
#if defined(__clang__)
  m.attr("compiler") = "clang " __clang_version__;
#elif defined(__GNUC__)
  m.attr("compiler") = "gcc " __VERSION__;
#else
  m.attr("compiler") = "unknown";
#endif
  m.def("compiled_simd_levels", &compiled_simd_levels);
  m.def("supported_simd_levels", &supported_simd_levels);
  m.def("detected_simd_level", [] { return simd_level_name(detected_simd_level()); });
  m.def("simd_level", [] { return simd_level_name(active_simd_level()); });
  m.def("set_simd_level", &set_simd_level, py::arg("name"));
  m.def("max_threads", [] { return resolve_threads(0); });
}

}  // namespace pycx::bind
