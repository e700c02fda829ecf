// Bindings of the CUDA state counts (device pointers; sizes come back as Python ints).
#include "device_bind.hpp"
#include "pycx/bind_util.hpp"
#include "state_counts.hpp"

namespace pycx::bind {

PYCX_BINDINGS(state_counts) {
  m.def(
      "state_counts",
      [](uintptr_t words, int64_t n_rows, int64_t n_words, uintptr_t inverse, uintptr_t counts,
         uintptr_t first_rows, bool force_exact_sort, int hash_bits, int device,
         uintptr_t stream) {
        if (hash_bits < 0 || hash_bits > 64)
          throw py::value_error("hash_bits must be in [0, 64] (0: all 64), got " +
                                std::to_string(hash_bits));
        const uint64_t mask = hash_bits > 0 && hash_bits < 64 ? (uint64_t(1) << hash_bits) - 1
                                                              : ~uint64_t(0);
        py::gil_scoped_release release;
        return cuda::state_counts(device_ptr<const uint64_t>(words), n_rows, n_words,
                                  device_ptr<int64_t>(inverse), device_ptr<int64_t>(counts),
                                  device_ptr<int64_t>(first_rows), force_exact_sort, mask, device,
                                  device_ptr<void>(stream));
      },
      py::arg("words"), py::arg("n_rows"), py::arg("n_words"), py::arg("inverse"),
      py::arg("counts"), py::arg("first_rows"), py::arg("force_exact_sort"),
      py::arg("hash_bits"), py::arg("device"), py::arg("stream"),
      "Groups equal rows; returns the number of states S (synchronises). hash_bits > 0 keeps "
      "only that many hash bits (forces collisions; tests only).");
  m.def(
      "gather_rows",
      [](uintptr_t words, int64_t n_words, uintptr_t rows, int64_t n_out, uintptr_t out,
         int device, uintptr_t stream) {
        py::gil_scoped_release release;
        cuda::gather_rows(device_ptr<const uint64_t>(words), n_words,
                          device_ptr<const int64_t>(rows), n_out, device_ptr<uint64_t>(out),
                          device, device_ptr<void>(stream));
      },
      py::arg("words"), py::arg("n_words"), py::arg("rows"), py::arg("n_out"), py::arg("out"),
      py::arg("device"), py::arg("stream"));
  m.def(
      "degeneracy",
      [](uintptr_t counts, int64_t n, uintptr_t k_out, uintptr_t m_out, int device,
         uintptr_t stream) {
        py::gil_scoped_release release;
        return cuda::degeneracy(device_ptr<const int64_t>(counts), n, device_ptr<int64_t>(k_out),
                                device_ptr<int64_t>(m_out), device, device_ptr<void>(stream));
      },
      py::arg("counts"), py::arg("n"), py::arg("k_out"), py::arg("m_out"), py::arg("device"),
      py::arg("stream"), "Distinct counts k and m_k; returns how many (synchronises).");
  m.def(
      "unique_labels",
      [](uintptr_t labels, int64_t n, uintptr_t classes_out, int device, uintptr_t stream) {
        py::gil_scoped_release release;
        return cuda::unique_labels(device_ptr<const int64_t>(labels), n,
                                   device_ptr<int64_t>(classes_out), device,
                                   device_ptr<void>(stream));
      },
      py::arg("labels"), py::arg("n"), py::arg("classes_out"), py::arg("device"),
      py::arg("stream"));
  m.def(
      "label_table",
      [](uintptr_t inverse, uintptr_t labels, int64_t n, uintptr_t classes, int64_t n_classes,
         int64_t n_states, uintptr_t table, int device, uintptr_t stream) {
        py::gil_scoped_release release;
        cuda::label_table(device_ptr<const int64_t>(inverse), device_ptr<const int64_t>(labels),
                          n, device_ptr<const int64_t>(classes), n_classes, n_states,
                          device_ptr<int64_t>(table), device, device_ptr<void>(stream));
      },
      py::arg("inverse"), py::arg("labels"), py::arg("n"), py::arg("classes"),
      py::arg("n_classes"), py::arg("n_states"), py::arg("table"), py::arg("device"),
      py::arg("stream"));
}

}  // namespace pycx::bind
