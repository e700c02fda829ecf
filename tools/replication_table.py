"""The README's claim table, generated from the full runs' findings and the modules' rules.

    python tools/replication_table.py            # rewrite the README section
    python tools/replication_table.py --check    # exit 1 if the README is out of date

A full run's ``findings.json`` is committed as ``replications/<name>/findings.json`` (written
by ``pycx replicate <name> --out replications/<name>``; a quick run is refused). For every rule
of every replication module the table gives its key, the claim, and the full run's verdict, or
says that the rule was never run at full size, or that it changed after the full run whose
verdict is shown (its words differ from the rule's now, or the rule says so itself).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RESULTS = ROOT / "replications"
START = "<!-- claim-table:start (tools/replication_table.py writes this section) -->"
END = "<!-- claim-table:end -->"


def full_run(name: str):
    """The committed full run's findings of replication `name`, or None."""
    path = RESULTS / name / "findings.json"
    if not path.exists():
        return None
    findings = json.loads(path.read_text())
    if findings.get("quick"):
        raise SystemExit(f"{path}: a quick run; commit full runs only")
    return findings


def _minutes(seconds) -> str:
    return "?" if seconds is None else f"{seconds / 60:.1f} min"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def rows() -> list:
    """One dict per (replication, rule): replication, key, claim, verdict, note."""
    from pycx import replications
    out = []
    for name in replications.available():
        module = replications._load(name)
        findings = full_run(name)
        by_key = {c.get("key"): c for c in (findings or {}).get("claims", [])}
        for rule in module.RULES:
            c = by_key.get(rule.key)
            if c is None:
                verdict, note = "—", "never run at full size"
            else:
                verdict, note = str(c["reproduces"]).lower(), ""
                if c.get("expected") != rule.expected or c.get("claim") != rule.claim:
                    note = "rule changed after this full run"
                elif rule.changed_after_full_run or c.get("changed_after_full_run"):
                    note = ("added or changed after its full run: "
                            + (rule.changed_after_full_run or c["changed_after_full_run"]))
            out.append({"replication": name, "key": rule.key, "claim": rule.claim,
                        "verdict": verdict, "note": note,
                        "seeds": (findings or {}).get("seeds"),
                        "wall_time_s": (findings or {}).get("wall_time_s")})
    return out


def table() -> str:
    lines = ["| replication (full run: seeds, time) | key | claim | verdict |",
             "|---|---|---|---|"]
    for r in rows():
        where = r["replication"]
        if r["seeds"] is not None:
            where += f" (seeds {', '.join(map(str, r['seeds']))}; {_minutes(r['wall_time_s'])})"
        verdict = r["verdict"] + (f" ({r['note']})" if r["note"] else "")
        lines.append(f"| {_cell(where)} | `{r['key']}` | {_cell(r['claim'])} | {_cell(verdict)} |")
    return "\n".join(lines)


def render(readme: str) -> str:
    if START not in readme or END not in readme:
        raise SystemExit(f"README.md: the markers {START!r} and {END!r} are missing")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table()}\n{END}{tail}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the README is out of date")
    args = ap.parse_args(argv)
    old = README.read_text()
    new = render(old)
    if args.check:
        if new != old:
            print("README.md's claim table is out of date: run python tools/replication_table.py")
            return 1
        return 0
    if new != old:
        from pycx._io import atomic_write_text
        atomic_write_text(README, new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
