"""Benchmark suite plumbing: ratios of pycx against its baseline, measured in the same run.

Each benchmark records ``benchmark.extra_info``: ``role`` ("pycx" or "baseline") and, on the
pycx side, ``goal`` (the minimum speed-up over the baseline that the project promises). At the
end of the run the ratios (baseline min time / pycx min time, per group) are printed, written to
``--ratios-json FILE`` if given, and with ``--enforce-goals`` a missed goal fails the run.

Run: ``pytest benchmarks --benchmark-enable [--ratios-json out.json] [--enforce-goals]``.
Without ``--benchmark-enable`` (the project default) each benchmark runs once, as a smoke test.
"""
import json
import platform

import pytest

import pycx


def pytest_addoption(parser):
    parser.addoption("--ratios-json", default=None, help="write the speed-up table as JSON here")
    parser.addoption("--enforce-goals", action="store_true", help="fail if a speed-up goal is missed")


def pytest_report_header(config):
    return "pycx build_info: " + ", ".join(f"{k}={v}" for k, v in pycx.build_info().items())


def speedup_rows(benchmarks):
    groups = {}
    for bench in benchmarks:
        groups.setdefault(bench.group, []).append(bench)
    rows = []
    for group, members in sorted(groups.items(), key=lambda kv: str(kv[0])):
        base = [b for b in members if b.extra_info.get("role") == "baseline"]
        fast = [b for b in members if b.extra_info.get("role") == "pycx"]
        if not base or not fast or base[0].stats is None:
            continue
        base_min = base[0].stats.min
        for b in fast:
            if b.stats is None:
                continue
            ratio = base_min / b.stats.min
            goal = b.extra_info.get("goal")
            row = {"group": group, "name": b.name, "baseline": base[0].name,
                   "pycx_s": b.stats.min, "baseline_s": base_min, "speedup": ratio, "goal": goal,
                   "met": None if goal is None else ratio >= goal}
            row.update({k: v for k, v in b.extra_info.items() if k not in ("role", "goal")})
            rows.append(row)
    return rows


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or session.disabled or not session.benchmarks:
        return
    rows = speedup_rows(session.benchmarks)
    if not rows:
        return
    tr = terminalreporter
    tr.section("pycx speed-ups over the baseline (min times, same run)")
    for r in rows:
        goal = "" if r["goal"] is None else f"  goal >= {r['goal']:g}x: {'met' if r['met'] else 'MISSED'}"
        tr.write_line(f"{r['group']:<40} {r['speedup']:9.2f}x  ({r['pycx_s'] * 1e3:.3f} ms vs "
                      f"{r['baseline_s'] * 1e3:.3f} ms){goal}")
        extra = {k: v for k, v in r.items() if k not in
                 ("group", "name", "baseline", "pycx_s", "baseline_s", "speedup", "goal", "met")}
        if extra:
            tr.write_line(" " * 42 + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                               for k, v in extra.items()))
    path = config.getoption("--ratios-json")
    if path:
        with open(path, "w") as f:
            json.dump({"machine": platform.machine(), "build_info": pycx.build_info(), "rows": rows}, f, indent=2)
    config._pycx_missed = [r for r in rows if r["met"] is False]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    missed = getattr(session.config, "_pycx_missed", None)
    if missed and session.config.getoption("--enforce-goals"):
        session.exitstatus = 1
