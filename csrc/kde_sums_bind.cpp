#include <pybind11/stl.h>

#include <optional>

#include "pycx/bind_util.hpp"
#include "pycx/kde_sums.hpp"

namespace pycx::bind {

using Words = py::array_t<uint64_t, py::array::c_style>;
using Doubles = py::array_t<double, py::array::c_style>;
using Labels = py::array_t<int64_t, py::array::c_style>;

PYCX_BINDINGS(kde_sums) {
  m.def(
      "kde_sums",
      [](const Words& a, const std::optional<Words>& b, int64_t n_bits, double s2,
         const std::optional<Doubles>& weights, const std::optional<Labels>& labels,
         const std::optional<Labels>& b_labels, int threads) {
        const int64_t n = a.shape(0);
        const int64_t m = b ? b->shape(0) : n;
        Doubles total(n);
        std::optional<Doubles> same;
        if (labels) same.emplace(n);
        const uint64_t* pa = a.data();
        const uint64_t* pb = b ? b->data() : nullptr;
        const double* pw = weights ? weights->data() : nullptr;
        const int64_t* pla = labels ? labels->data() : nullptr;
        const int64_t* plb = b_labels ? b_labels->data() : nullptr;
        double* pt = total.mutable_data();
        double* ps = same ? same->mutable_data() : nullptr;
        {
          py::gil_scoped_release release;
          kde_sums(pa, n, pb, m, !b, n_bits, s2, pw, pla, plb, pt, ps, threads);
        }
        return py::make_tuple(total, same ? py::object(*same) : py::none());
      },
      py::arg("a"), py::arg("b"), py::arg("n_bits"), py::arg("s2"), py::arg("weights"),
      py::arg("labels"), py::arg("b_labels"), py::arg("threads"),
      "(total, same_label or None); b=None means B = A (labels then index both).");

  m.def(
      "hamming_distances",
      [](const Words& a, const std::optional<Words>& b, int64_t n_bits, int threads) {
        const int64_t n = a.shape(0);
        const int64_t m = b ? b->shape(0) : n;
        py::array_t<int32_t> out({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(m)});
        const uint64_t* pa = a.data();
        const uint64_t* pb = b ? b->data() : nullptr;
        int32_t* po = out.mutable_data();
        {
          py::gil_scoped_release release;
          hamming_distances(pa, n, pb, m, !b, n_bits, po, threads);
        }
        return out;
      },
      py::arg("a"), py::arg("b"), py::arg("n_bits"), py::arg("threads"));
}

}  // namespace pycx::bind
