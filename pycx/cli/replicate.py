"""`pycx replicate NAME [--quick] [--out DIR] [--seed S]`: runs one of the papers' experiments
(`pycx.replications`) and prints where its figures and ``findings.json`` went."""
from __future__ import annotations

from ._util import UserError


def run_replicate(args) -> None:
    from .. import replications
    names = replications.available()
    if args.list or args.name is None:
        if args.name is None and not args.list:
            raise UserError("give a replication name, or --list; available: " + ", ".join(names))
        for name in names:
            print(f"{name:28s} {replications.describe(name)}")
        return
    if args.name not in names:
        raise UserError(f"unknown replication {args.name!r}; available: {', '.join(names)}")
    out = args.out or f"replication-{args.name}"
    result = replications.run(args.name, quick=args.quick, out=out, seed=args.seed,
                              progress=not args.quiet)
    if not args.quiet:
        from ..replications.findings import verdict_line
        for c in result.get("claims", []):
            print(verdict_line(c))  # a quick run's verdicts say they only check the pipeline
        print(f"findings: {out}/findings.json ({result.get('wall_time_s', float('nan')):.0f} s)")
