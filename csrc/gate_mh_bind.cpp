#include <stdexcept>

#include "pycx/bind_util.hpp"
#include "pycx/gate_mh.hpp"

namespace pycx::bind {
namespace {

// noconvert on every array: the outputs are written in place, so a converted copy would
// silently lose them (pycx/kernels/gate_mh.py passes matching C-contiguous arrays).
template <typename T>
void bind_dtype(py::module_& m) {
  using A = py::array_t<T, py::array::c_style>;
  using Counts = py::array_t<int64_t, py::array::c_style>;
  m.def(
      "gate_mh_propose",
      [](const A& s, const A& g, const A& logit_p, const A& neg_half_inv, uint64_t seed,
         uint64_t counter, A& s_new, A& move, A& part, int threads) {
        const int64_t L = s.shape(0), n = s.shape(1), d = s.shape(2);
        T* sn = s_new.mutable_data();
        T* mv = move.mutable_data();
        T* pt = part.mutable_data();
        py::gil_scoped_release release;
        gate_mh_propose<T>(s.data(), g.data(), logit_p.data(), neg_half_inv.data(), L, n, d, seed,
                           counter, sn, mv, pt, threads);
      },
      py::arg("s").noconvert(), py::arg("g").noconvert(), py::arg("logit_p").noconvert(),
      py::arg("neg_half_inv").noconvert(), py::arg("seed"), py::arg("counter"),
      py::arg("s_new").noconvert(), py::arg("move").noconvert(), py::arg("part").noconvert(),
      py::arg("threads"), "Proposal half of one sampler step (pycx/gate_mh.hpp).");
  m.def(
      "gate_mh_accept",
      [](A& s, A& g, A& f, const A& s_new, const A& g_new, const A& f_new, const A& move,
         const A& part, const A& logit_p, const A& neg_half_inv, uint64_t seed, uint64_t counter,
         Counts& accepted, int threads) {
        const int64_t L = s.shape(0), n = s.shape(1), d = s.shape(2);
        T* sp = s.mutable_data();
        T* gp = g.mutable_data();
        T* fp = f.mutable_data();
        int64_t* acc = accepted.mutable_data();
        py::gil_scoped_release release;
        gate_mh_accept<T>(sp, gp, fp, s_new.data(), g_new.data(), f_new.data(), move.data(),
                          part.data(), logit_p.data(), neg_half_inv.data(), L, n, d, seed,
                          counter, acc, threads);
      },
      py::arg("s").noconvert(), py::arg("g").noconvert(), py::arg("f").noconvert(),
      py::arg("s_new").noconvert(), py::arg("g_new").noconvert(), py::arg("f_new").noconvert(),
      py::arg("move").noconvert(), py::arg("part").noconvert(), py::arg("logit_p").noconvert(),
      py::arg("neg_half_inv").noconvert(), py::arg("seed"), py::arg("counter"),
      py::arg("accepted").noconvert(), py::arg("threads"),
      "Acceptance half of one sampler step, in place (pycx/gate_mh.hpp).");
}

}  // namespace

PYCX_BINDINGS(gate_mh) {
  bind_dtype<float>(m);
  bind_dtype<double>(m);
}

}  // namespace pycx::bind
