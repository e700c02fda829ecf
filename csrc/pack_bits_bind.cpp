#include <pybind11/stl.h>

#include <vector>

#include "pycx/bind_util.hpp"
#include "pycx/common.hpp"
#include "pycx/pack_bits.hpp"

namespace pycx::bind {

using Words = py::array_t<uint64_t, py::array::c_style>;

PYCX_BINDINGS(pack_bits) {
  m.def(
      "pack_rows",
      [](const py::array& x, double threshold, int threads) {
        const int64_t n_rows = x.shape(0), n_bits = x.shape(1);
        Words out = new_words(n_rows, words_for_bits(n_bits));
        uint64_t* dst = out.mutable_data();
        const int64_t row_stride = elem_stride(x, 0);
        const bool nan = dispatch_gate_dtype(x, [&](auto tag) {
          using T = decltype(tag);
          const T* src = static_cast<const T*>(x.data());
          py::gil_scoped_release release;
          return pack_rows<T>(src, n_rows, n_bits, row_stride, static_cast<T>(threshold), dst, threads);
        });
        return py::make_tuple(out, nan);
      },
      py::arg("x"), py::arg("threshold"), py::arg("threads"),
      "Packs a 2-D array with contiguous columns; returns (words, saw_nan).");

  m.def(
      "pack_patches",
      [](const py::array& x, double threshold, int threads) {
        const int64_t N = x.shape(0), C = x.shape(1), H = x.shape(2), W = x.shape(3);
        Words out = new_words(N * H * W, words_for_bits(C));
        uint64_t* dst = out.mutable_data();
        const int64_t sn = elem_stride(x, 0), sc = elem_stride(x, 1), sh = elem_stride(x, 2),
                      sw = elem_stride(x, 3);
        const bool nan = dispatch_gate_dtype(x, [&](auto tag) {
          using T = decltype(tag);
          const T* src = static_cast<const T*>(x.data());
          py::gil_scoped_release release;
          return pack_patches<T>(src, N, C, H, W, sn, sc, sh, sw, static_cast<T>(threshold), dst, threads);
        });
        return py::make_tuple(out, nan);
      },
      py::arg("x"), py::arg("threshold"), py::arg("threads"),
      "Per-patch layout of an (N, C, H, W) array (any strides); returns (words, saw_nan).");

  m.def(
      "concat_bits",
      [](const std::vector<Words>& parts, const std::vector<int64_t>& part_bits, int threads) {
        const int64_t n_rows = parts.empty() ? 0 : parts[0].shape(0);
        int64_t total = 0;
        std::vector<const uint64_t*> ptrs;
        for (size_t i = 0; i < parts.size(); ++i) {
          ptrs.push_back(parts[i].data());
          total += part_bits[i];
        }
        Words out = new_words(n_rows, words_for_bits(total));
        uint64_t* dst = out.mutable_data();
        {
          py::gil_scoped_release release;
          concat_bits(ptrs.data(), part_bits.data(), static_cast<int>(ptrs.size()), n_rows, dst, threads);
        }
        return out;
      },
      py::arg("parts"), py::arg("part_bits"), py::arg("threads"));
}

}  // namespace pycx::bind
