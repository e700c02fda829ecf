#include "pycx/bind_util.hpp"
#include "pycx/boost_fit.hpp"

namespace pycx::bind {

PYCX_BINDINGS(boost_fit) {
  using Words = py::array_t<uint64_t, py::array::c_style>;
  using F32 = py::array_t<float, py::array::c_style>;
  m.def(
      "boost_fit_predict",
      [](const Words& train, int64_t n_features, const F32& label, const F32& weight,
         const Words& test, int rounds, int max_depth, float eta, double lambda,
         double min_child_weight) {
        const int64_t n_train = train.shape(0), words = train.shape(1), n_test = test.shape(0);
        F32 out(n_test);
        float* o = out.mutable_data();
        const BoostParams params{rounds, max_depth, eta, lambda, min_child_weight};
        {
          py::gil_scoped_release release;
          boost_fit_predict(train.data(), n_train, words, n_features, label.data(),
                            weight.data(), test.data(), n_test, params, o);
        }
        return out;
      },
      py::arg("train").noconvert(), py::arg("n_features"), py::arg("label").noconvert(),
      py::arg("weight").noconvert(), py::arg("test").noconvert(), py::arg("rounds"),
      py::arg("max_depth"), py::arg("eta"), py::arg("lambda_"), py::arg("min_child_weight"),
      "Boosted trees on packed binary features; P(label = 1) of the test rows "
      "(pycx/boost_fit.hpp).");
}

}  // namespace pycx::bind
