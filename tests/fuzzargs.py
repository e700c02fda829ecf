"""A small harness for the argument fuzz suites (tests/test_fuzz_*.py): every case calls a
public function with one argument drawn from a pool of bad values (the others valid, drawn at
random from a seeded generator), or with valid arguments only.

A case passes when valid arguments give a result and a bad one raises one TypeError or
ValueError whose message names that argument (``'name'``). Values that must be refused are
marked so: accepting them (a silent coercion) fails the case too. Every failure is collected,
so a run reports how many of the cases fail, not only the first.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Optional


@dataclass
class Case:
    label: str                 # what was called, for the report
    call: Callable[[], object]
    arg: Optional[str]         # the argument holding the bad value; None: every argument valid
    must_fail: bool = True     # False: the value may be valid (then it must simply work)


def run_cases(cases) -> list:
    """The failures (one line each) of `cases`."""
    failures = []
    for case in cases:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. a collapsed layer after a short fit
                case.call()
        except (TypeError, ValueError) as exc:
            message = str(exc)
            if case.arg is None:
                failures.append(f"{case.label}: valid arguments raised {type(exc).__name__}: "
                                f"{message[:200]}")
            elif f"'{case.arg}'" not in message:
                failures.append(f"{case.label}: {type(exc).__name__} does not name "
                                f"'{case.arg}': {message[:200]}")
        except Exception as exc:  # noqa: BLE001 - any other exception is the failure reported
            failures.append(f"{case.label}: {type(exc).__name__}: {str(exc)[:200]}")
        else:
            if case.arg is not None and case.must_fail:
                failures.append(f"{case.label}: the bad value was accepted")
    return failures


def report(failures, total) -> str:
    return (f"{len(failures)} of {total} cases fail:\n  " + "\n  ".join(failures[:40])
            + ("\n  ..." if len(failures) > 40 else ""))
