"""state_counts vs ``np.unique(words, axis=0, return_counts=True)`` on the same packed uint64
rows, with duplicates. Goal: >= 10x."""
import numpy as np
import pytest

import pycx


def duplicated_rows(n_rows, n_bits, n_distinct, seed):
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 2, (n_distinct, n_bits), dtype=np.uint8)
    return pycx.pack_bits(pool[rng.integers(0, n_distinct, n_rows)])


CASES = {
    "60000x500": duplicated_rows(60_000, 500, 20_000, 0),
    "1000000x64": duplicated_rows(1_000_000, 64, 100_000, 1),
}


@pytest.mark.parametrize("case", CASES)
def test_state_counts_numpy(benchmark, case):
    benchmark.group = f"state_counts {case}"
    benchmark.extra_info["role"] = "baseline"
    words = CASES[case].words
    benchmark(lambda: np.unique(words, axis=0, return_counts=True))


@pytest.mark.parametrize("case", CASES)
def test_state_counts_pycx(benchmark, case):
    benchmark.group = f"state_counts {case}"
    benchmark.extra_info.update(role="pycx", goal=10.0)
    benchmark(pycx.state_counts, CASES[case])
