#include <pybind11/stl.h>

#include <stdexcept>
#include <vector>

#include "pycx/bind_util.hpp"
#include "pycx/covariance.hpp"

namespace pycx::bind {

using Doubles = py::array_t<double, py::array::c_style>;

PYCX_BINDINGS(covariance) {
  m.def(
      "covariance_shift",
      [](const py::array& x, int64_t row0, int64_t n_rows, Doubles shifted, Doubles shift,
         Doubles sums, int threads) {
        // x: (*batch, rows, dim), float32/float64, any element strides.
        const int nd = static_cast<int>(x.ndim());
        std::vector<int64_t> shape, strides;
        for (int a = 0; a < nd - 2; ++a) {
          shape.push_back(x.shape(a));
          strides.push_back(elem_stride(x, a));
        }
        const std::vector<int64_t> offsets = batch_offsets(shape, strides);
        const int64_t B = static_cast<int64_t>(offsets.size()), dim = x.shape(nd - 1);
        const int64_t s_row = elem_stride(x, nd - 2), s_col = elem_stride(x, nd - 1);
        if (shifted.size() < B * n_rows * dim || shift.size() < B * dim || sums.size() < B * dim)
          throw std::invalid_argument("covariance_shift: output buffers too small");
        double* out = shifted.mutable_data();
        double* k = shift.mutable_data();
        double* d = sums.mutable_data();
        const py::dtype dt = x.dtype();
        auto run = [&](auto tag) {
          using T = decltype(tag);
          const T* src = static_cast<const T*>(x.data()) + row0 * s_row;
          py::gil_scoped_release release;
          return shift_rows<T>(src, offsets.data(), B, n_rows, dim, s_row, s_col, k, d, out, threads);
        };
        if (dt.is(py::dtype::of<float>())) return run(float{});
        if (dt.is(py::dtype::of<double>())) return run(double{});
        throw std::invalid_argument("covariance_shift: dtype must be float32 or float64");
      },
      py::arg("x"), py::arg("row0"), py::arg("n_rows"), py::arg("shifted"), py::arg("shift"),
      py::arg("sums"), py::arg("threads"),
      "Rows [row0, row0 + n_rows) per batch entry minus a shift (the mean of their first rows), "
      "the shift and the sums of the shifted rows (float64); returns False if not finite.");

  m.def(
      "covariance_merge",
      [](Doubles mean_a, Doubles m2_a, int64_t count_a, const Doubles& mean_b, const Doubles& m2_b,
         int64_t count_b, int threads) {
        const int64_t dim = mean_a.ndim() ? mean_a.shape(mean_a.ndim() - 1) : 0;
        const int64_t B = dim ? mean_a.size() / dim : 0;
        if (m2_a.size() != B * dim * dim || mean_b.size() != B * dim || m2_b.size() != B * dim * dim)
          throw std::invalid_argument("covariance_merge: mismatched accumulator sizes");
        double* ma = mean_a.mutable_data();
        double* qa = m2_a.mutable_data();
        const double* mb = mean_b.data();
        const double* qb = m2_b.data();
        py::gil_scoped_release release;
        covariance_merge(B, dim, count_a, ma, qa, count_b, mb, qb, threads);
      },
      py::arg("mean_a"), py::arg("m2_a"), py::arg("count_a"), py::arg("mean_b"), py::arg("m2_b"),
      py::arg("count_b"), py::arg("threads"),
      "Chan merge of (count_b, mean_b, m2_b) into (count_a, mean_a, m2_a), in place.");

  m.def(
      "covariance_merge_shifted",
      [](Doubles mean_a, Doubles m2_a, int64_t count_a, const Doubles& shift_b, const Doubles& sums_b,
         const Doubles& gram_b, int64_t count_b, int threads) {
        const int64_t dim = mean_a.ndim() ? mean_a.shape(mean_a.ndim() - 1) : 0;
        const int64_t B = dim ? mean_a.size() / dim : 0;
        if (m2_a.size() != B * dim * dim || shift_b.size() != B * dim || sums_b.size() != B * dim ||
            gram_b.size() != B * dim * dim)
          throw std::invalid_argument("covariance_merge_shifted: mismatched accumulator sizes");
        double* ma = mean_a.mutable_data();
        double* qa = m2_a.mutable_data();
        const double* k = shift_b.data();
        const double* d = sums_b.data();
        const double* g = gram_b.data();
        py::gil_scoped_release release;
        covariance_merge_shifted(B, dim, count_a, ma, qa, count_b, k, d, g, threads);
      },
      py::arg("mean_a"), py::arg("m2_a"), py::arg("count_a"), py::arg("shift_b"), py::arg("sums_b"),
      py::arg("gram_b"), py::arg("count_b"), py::arg("threads"),
      "Chan merge of a shifted block (count_b rows, their shift, shifted sums and shifted product) "
      "into (count_a, mean_a, m2_a), in place.");
}

}  // namespace pycx::bind
