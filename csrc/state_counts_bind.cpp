#include "pycx/bind_util.hpp"
#include "pycx/state_counts.hpp"

namespace pycx::bind {

using Words = py::array_t<uint64_t, py::array::c_style>;

PYCX_BINDINGS(state_counts) {
  m.def(
      "state_counts",
      [](const Words& words, int threads, int weak_hash_bits, int64_t partition_min_rows) {
        const int64_t n_rows = words.shape(0), n_words = words.shape(1);
        py::array_t<int64_t> inverse(static_cast<py::ssize_t>(n_rows));
        const uint64_t* rows = words.data();
        int64_t* inv = inverse.mutable_data();
        const uint64_t mask = weak_hash_bits > 0 ? (uint64_t(1) << weak_hash_bits) - 1 : ~uint64_t(0);
        StateCountsResult r;
        {
          py::gil_scoped_release release;
          r = state_counts(rows, n_rows, n_words, inv, threads, mask,
                           partition_min_rows >= 0 ? partition_min_rows : kPartitionMinRows);
        }
        const int64_t n_states = static_cast<int64_t>(r.counts.size());
        Words states = new_words(n_states, n_words);
        py::array_t<int64_t> counts(static_cast<py::ssize_t>(n_states));
        uint64_t* dst = states.mutable_data();
        std::copy(r.counts.begin(), r.counts.end(), counts.mutable_data());
        {
          py::gil_scoped_release release;
          gather_rows(rows, n_words, r.first_row.data(), n_states, dst, threads);
        }
        return py::make_tuple(states, counts, inverse);
      },
      py::arg("words"), py::arg("threads"), py::arg("weak_hash_bits") = 0,
      py::arg("partition_min_rows") = -1,
      "Distinct rows in order of first occurrence: (states, counts, inverse). Testing knobs: "
      "weak_hash_bits > 0 keeps only that many hash bits (forces collisions); "
      "partition_min_rows >= 0 overrides the size from which insertion is partitioned.");
}

}  // namespace pycx::bind
