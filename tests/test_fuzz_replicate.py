"""Fuzzing the replication command line, `pycx replicate` (issue 32: the fuzz suites cover the
newer surfaces).

Each case is one command line drawn from a grammar of replication names, output folders (new,
nested, existing, a file, under a file, empty, very long, odd characters, unwritable) and seeds
(valid, negative, too large, not an integer), with the flags in any combination; it runs in
its own process (`python -c`, as the `pycx` entry point would), so that an abort or a signal
is seen as such. Every replication's work is replaced by a stand-in that only writes its
findings through the real writer, so a case takes a fraction of a second and the output
folder is really written.

A case passes when it exits 0 having written ``findings.json`` into the folder it named, or
exits 2 with exactly one line on stderr and no traceback.
"""
import json
import os
import sys

import numpy as np
import pytest

from pyrun import run_python

# The stand-in for every replication's run(out, *, quick, seed, progress).
PRELUDE = """
import sys
import pycx.replications as R
from pycx.replications.findings import write_findings
def _stand_in(out, *, quick, seed, progress):
    # The real runs seed torch with seed + run or layer number (at most 2^64 - 1).
    if seed + 100 > 2 ** 64 - 1:
        raise RuntimeError("Overflow when unpacking long long (as torch.manual_seed)")
    write_findings(out, {"seed": seed, "quick": quick, "claims": []})
    return {"claims": []}
for _name in R.available():
    R._load(_name).run = _stand_in
    R._load(_name).RULES = ()  # the stand-in tests no claim
from pycx.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _out_choices(tmp):
    afile = tmp / "afile"
    afile.write_text("x")
    existing = tmp / "existing"
    existing.mkdir(exist_ok=True)
    return {
        "new": str(tmp / "new"), "nested": str(tmp / "a" / "b" / "c"), "existing": str(existing),
        "file": str(afile), "under-file": str(afile / "sub"), "empty": "",
        "spaces and ünïcode": str(tmp / "out dir ü"), "too-long": str(tmp / ("x" * 300)),
        "too-long-parent": str(tmp / ("y" * 300) / "out"), "proc": "/proc/pycx-fuzz-out",
        "dot": ".", "absent": None,
    }


SEEDS = {"valid": ["0", "7", str(2 ** 63 - 1), " 5"],
         "bad": ["-1", str(2 ** 63), str(2 ** 64), "1e3", "", "0x10", "nan", "seven", "1.0"]}
NAMES = {"valid": ["song2018-fig2", "janik2020-fc3"],
         "bad": ["nope", "song2018_fig2", "../song2018-fig2", "SONG2018-FIG2", "", "-"]}


def _cases(rng, tmp):
    outs = _out_choices(tmp)
    pick = lambda pool: pool[int(rng.integers(len(pool)))]  # noqa: E731
    cases = []
    for i in range(40):
        argv = ["replicate"]
        if rng.random() < 0.85:
            argv.append(pick(NAMES["valid"] if rng.random() < 0.7 else NAMES["bad"]))
        out = outs[pick(sorted(outs))]
        if out is not None:
            argv += ["--out", out]
        if rng.random() < 0.7:
            argv += ["--seed", pick(SEEDS["valid"] if rng.random() < 0.5 else SEEDS["bad"])]
        for flag, p in (("--quick", 0.5), ("--quiet", 0.5), ("--list", 0.1), ("--bogus", 0.05)):
            if rng.random() < p:
                argv.append(flag)
        cases.append(argv)
    return cases


def _check(argv, proc, cwd):
    """The failure of one case, or None."""
    shown = [a if len(a) < 60 else a[:40] + f"...({len(a)} chars)" for a in argv]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    if proc.returncode == 0:
        if "--list" in argv or "--help" in argv:
            return None
        out = argv[argv.index("--out") + 1] if "--out" in argv else ""
        name = argv[1]
        folder = os.path.join(cwd, out or f"replication-{name}")
        if not os.path.isfile(os.path.join(folder, "findings.json")):
            return f"{shown}: exit 0 but no findings.json in {folder[:80]}"
        with open(os.path.join(folder, "findings.json")) as fh:
            json.load(fh)
        return None
    if proc.returncode != 2:
        return f"{shown}: exit {proc.returncode}: {proc.stderr.strip()[-300:]}"
    if len(lines) != 1 or "Traceback" in proc.stderr:
        return f"{shown}: not one line: {proc.stderr.strip()[-300:]}"
    return None


@pytest.mark.slow
def test_replicate_command_lines_exit_0_or_one_line_and_2(tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    cases = _cases(np.random.default_rng(32), tmp_path)
    failures = []
    for argv in cases:
        proc = run_python(["-c", PRELUDE, *argv], cwd=cwd, timeout=120)
        failure = _check(argv, proc, str(cwd))
        if failure:
            failures.append(failure)
    assert not failures, f"{len(failures)} of {len(cases)} cases fail:\n  " + "\n  ".join(failures)
