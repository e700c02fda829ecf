"""Thread count for a kernel call: small inputs run on one thread by default.

Waking an OpenMP team costs ~5-20 us on an idle machine and up to milliseconds on a loaded
one (every worker must be scheduled before the region ends), while packing a 1000 x 8 array
takes a few microseconds. Each kernel module therefore names a work threshold, in its own
unit of work, measured as about 0.2 ms of single-threaded time (benchmarks/
bench_small_inputs.py); below it the default (``threads=None``) runs on one thread. An
explicit ``threads=`` is always obeyed.
"""
from __future__ import annotations


def threads_for(nthreads: int, work: int, min_parallel_work: int) -> int:
    """``nthreads`` as returned by `pycx._validate.check_threads` (0: the default, all
    cores) and the call's ``work``: 1 for a default call below ``min_parallel_work``."""
    if nthreads == 0 and work < min_parallel_work:
        return 1
    return nthreads
