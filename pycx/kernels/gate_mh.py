"""One Metropolis-Hastings step of the gate-state sampler of `pycx.train` (paper 004, eq. 36 on
binary states; the math is in ``csrc/include/pycx/gate_mh.hpp``), fused in C++ around the
caller's evaluation of f and its gradient.

`propose` flips each unit with probability ``sigmoid(l)``, ``l = clamp(0.5 (g + logit p)
(1 - 2 s) - 1 / (2 dtau), -30, 30)``, and returns per row the forward part of the log
acceptance ratio; `accept` adds ``f_new - f`` and the reverse move's part, accepts each row
with probability ``min(1, exp(ratio))`` and copies the accepted rows in place. Random numbers
are a counter-based hash of ``(seed, counter, row, unit)``: a result depends on neither the
thread count nor the SIMD level (float32 sums aside, whose order follows the vector width).

Why a kernel: per step the sampler's elementwise work is about 25 passes over
``(layers, chains, units)`` plus one uniform draw per unit; as torch ops on the CPU that is
most of a training step of the complexity loss (``benchmarks/bench_gate_mh.py``).

Arrays: states ``s``, gradients ``g``, moves: ``(L, n, d)``; ``f``, parts: ``(L, n)``;
``logit_p``: ``(L, d)``; ``neg_half_inv`` (``-1 / (2 dtau)`` per layer): ``(L,)``; one
float dtype (float32 or float64), C-contiguous, writable outputs. The checks here are O(1):
the caller (`pycx.train.ebm.EBMStack`) owns these buffers.
"""
from __future__ import annotations

import numpy as np

from .. import _cpu
from .._validate import check_threads, describe
from ._threads import threads_for

__all__ = ["propose", "accept", "Chain"]

# Below ~0.2 ms of single-threaded work (about 2^19 unit updates) a second thread only adds
# the team's wake-up cost (pycx.kernels._threads).
_MIN_PARALLEL_UNITS = 1 << 19


def _check(name, a, dtype, shape):
    if not isinstance(a, np.ndarray) or a.dtype != dtype or a.shape != shape or not a.flags.c_contiguous:
        raise ValueError(f"argument '{name}' must be a C-contiguous {np.dtype(dtype).name} array of "
                         f"shape {shape}, got {describe(a)}")


def _check_all(s, arrays, out):
    if not isinstance(s, np.ndarray) or s.ndim != 3 or s.dtype not in (np.float32, np.float64):
        raise ValueError(f"argument 's' must be an (L, n, d) float32 or float64 array, got {describe(s)}")
    L, n, d = s.shape
    shapes = {"rows3": (L, n, d), "rows2": (L, n), "units": (L, d), "layers": (L,)}
    for name, (a, kind) in arrays.items():
        _check(name, a, s.dtype, shapes[kind])
    for name, a in out.items():
        if not a.flags.writeable:
            raise ValueError(f"argument '{name}' must be writable")


def propose(s, g, logit_p, neg_half_inv, seed: int, counter: int, s_new, move, part,
            threads=None) -> None:
    """Proposal half of one step: writes ``s_new``, ``move`` (the signed flips) and ``part``
    (per row, ``sum_j [move logit p - flip l + softplus(l)]``).

    >>> import numpy as np
    >>> s = np.zeros((1, 2, 3), np.float32); g = np.zeros_like(s)
    >>> lp = np.zeros((1, 3), np.float32); nhi = np.array([-2.5], np.float32)
    >>> s_new, move, part = np.empty_like(s), np.empty_like(s), np.empty((1, 2), np.float32)
    >>> propose(s, g, lp, nhi, 7, 0, s_new, move, part)
    >>> bool(((s_new == 0) | (s_new == 1)).all() and (s_new - s == move).all())
    True
    """
    _check_all(s, {"g": (g, "rows3"), "logit_p": (logit_p, "units"),
                   "neg_half_inv": (neg_half_inv, "layers"), "s_new": (s_new, "rows3"),
                   "move": (move, "rows3"), "part": (part, "rows2")},
               {"s_new": s_new, "move": move, "part": part})
    nthreads = threads_for(check_threads(threads), s.size, _MIN_PARALLEL_UNITS)
    _cpu.gate_mh_propose(s, g, logit_p, neg_half_inv, int(seed) & (2**64 - 1),
                         int(counter) & (2**64 - 1), s_new, move, part, nthreads)


def accept(s, g, f, s_new, g_new, f_new, move, part, logit_p, neg_half_inv, seed: int,
           counter: int, accepted, threads=None) -> None:
    """Acceptance half of one step, in place: rows of ``s``, ``g``, ``f`` whose test passes take
    the proposed values; ``accepted`` (int64, ``(L,)``) receives each layer's count.

    >>> import numpy as np
    >>> s = np.zeros((1, 4, 3), np.float32); g = np.zeros_like(s); f = np.zeros((1, 4), np.float32)
    >>> lp = np.zeros((1, 3), np.float32); nhi = np.array([-2.5], np.float32)
    >>> s_new, move, part = np.empty_like(s), np.empty_like(s), np.empty((1, 4), np.float32)
    >>> propose(s, g, lp, nhi, 7, 0, s_new, move, part)
    >>> acc = np.zeros(1, np.int64)
    >>> accept(s, g, f, s_new, g.copy(), f.copy(), move, part, lp, nhi, 7, 1, acc)
    >>> bool(0 <= acc[0] <= 4)
    True
    """
    _check_all(s, {"g": (g, "rows3"), "f": (f, "rows2"), "s_new": (s_new, "rows3"),
                   "g_new": (g_new, "rows3"), "f_new": (f_new, "rows2"), "move": (move, "rows3"),
                   "part": (part, "rows2"), "logit_p": (logit_p, "units"),
                   "neg_half_inv": (neg_half_inv, "layers")},
               {"s": s, "g": g, "f": f})
    if not (isinstance(accepted, np.ndarray) and accepted.dtype == np.int64
            and accepted.shape == (s.shape[0],) and accepted.flags.c_contiguous
            and accepted.flags.writeable):
        raise ValueError(f"argument 'accepted' must be a writable int64 array of shape "
                         f"({s.shape[0]},), got {describe(accepted)}")
    nthreads = threads_for(check_threads(threads), s.size, _MIN_PARALLEL_UNITS)
    _cpu.gate_mh_accept(s, g, f, s_new, g_new, f_new, move, part, logit_p, neg_half_inv,
                        int(seed) & (2**64 - 1), int(counter) & (2**64 - 1), accepted, nthreads)


class Chain:
    """The buffers of one sampler run (states ``s``, gradients ``g``, ``f``, ``logit_p``,
    ``neg_half_inv``, as for `propose`), validated once; each step then costs two kernel
    calls and an O(1) check of the step's new ``g_new`` and ``f_new``. ``s``, ``g`` and ``f``
    are updated in place; ``s_new``, ``move`` and ``part`` are the chain's own scratch arrays.

    >>> import numpy as np
    >>> s = np.zeros((2, 8, 5), np.float32); g = np.zeros_like(s); f = np.zeros((2, 8), np.float32)
    >>> chain = Chain(s, g, f, np.zeros((2, 5), np.float32), np.full(2, -2.5, np.float32), seed=3)
    >>> chain.propose(0)
    >>> counts = chain.accept(g.copy(), f.copy(), 1)   # f and g flat: accept unless q says no
    >>> counts.shape, bool(((s == 0) | (s == 1)).all())
    ((2,), True)
    """

    def __init__(self, s, g, f, logit_p, neg_half_inv, seed: int, threads=None):
        _check_all(s, {"g": (g, "rows3"), "f": (f, "rows2"), "logit_p": (logit_p, "units"),
                       "neg_half_inv": (neg_half_inv, "layers")}, {"s": s, "g": g, "f": f})
        self.s, self.g, self.f, self.logit_p, self.neg_half_inv = s, g, f, logit_p, neg_half_inv
        self.seed = int(seed) & (2**64 - 1)
        self.s_new, self.move = np.empty_like(s), np.empty_like(s)
        self.part = np.empty(s.shape[:2], dtype=s.dtype)
        self.accepted = np.zeros(s.shape[0], dtype=np.int64)
        self.threads = threads_for(check_threads(threads), s.size, _MIN_PARALLEL_UNITS)

    def propose(self, counter: int) -> None:
        """Fills ``s_new`` (and the scratch ``move``, ``part``) from the current state."""
        _cpu.gate_mh_propose(self.s, self.g, self.logit_p, self.neg_half_inv, self.seed,
                             int(counter) & (2**64 - 1), self.s_new, self.move, self.part,
                             self.threads)

    def accept(self, g_new, f_new, counter: int) -> np.ndarray:
        """Acceptance half with f and its gradient at ``s_new``; returns each layer's count
        of accepted rows (a view, overwritten by the next call)."""
        _check("g_new", g_new, self.s.dtype, self.s.shape)
        _check("f_new", f_new, self.s.dtype, self.s.shape[:2])
        _cpu.gate_mh_accept(self.s, self.g, self.f, self.s_new, g_new, f_new, self.move,
                            self.part, self.logit_p, self.neg_half_inv, self.seed,
                            int(counter) & (2**64 - 1), self.accepted, self.threads)
        return self.accepted
