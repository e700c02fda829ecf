"""`pycx compare A B`: two reports (checkpoints, seeds, models) side by side: the network
values of each, per compared column a table of A, B and B − A per layer, and ``compare.csv``
and ``compare.png`` in ``--out`` (each file written atomically)."""
from __future__ import annotations

import math
import sys
from pathlib import Path

from ._util import UserError, require


def _say(args, text) -> None:
    if not args.quiet:
        print(text, file=sys.stderr, flush=True)


def _num(v, bound: bool = False) -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return "–"
    if not math.isfinite(v):
        return "–"
    return ("≤ " if bound else "") + f"{v:.4g}"


def _diff(v) -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return "–"
    return "–" if not math.isfinite(v) else ("0" if v == 0 else f"{v:+.4g}")


def _table(header, rows) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(h).ljust(w) if i == 0 else str(h).rjust(w)
                       for i, (h, w) in enumerate(zip(header, widths)))]
    for r in rows:
        lines.append("  ".join(str(x).ljust(w) if i == 0 else str(x).rjust(w)
                               for i, (x, w) in enumerate(zip(r, widths))))
    return "\n".join(lines)


def _network_lines(rep_a, rep_b, la, lb) -> str:
    """The network values of each report at its models' last epochs."""
    rows = []
    for label, rep in ((la, rep_a), (lb, rep_b)):
        s = rep.summary()
        if not len(s):
            continue
        for _, g in s.groupby("model", sort=False, dropna=False):
            r = g.iloc[-1]
            n_bound = int(r["complexity_layers_not_measured"])
            rows.append([label, str(r["model"]), _num(r["epoch"]), str(int(r["layers"])),
                         _num(r["network_complexity_measured"]),
                         _num(r["network_complexity"], bound=n_bound > 0),
                         r["critical_layer"] or "–", r["zipf_layer"] or "–",
                         _num(r["beta_across_layers"])])
    header = ["report", "model", "epoch", "layers", "ΣH(Z) measured", "ΣH(Z) all",
              "critical layer", "Zipf layer", "β across"]
    return _table(header, rows) if rows else "(no layers)"


def _layer_blocks(table, la, lb) -> str:
    from ..report.columns import COLUMN_GUIDE
    from ..report.compare import _row_name, compared_columns

    names = [_row_name(r) for r in table.itertuples(index=False)]
    blocks = []
    for c in compared_columns(table):
        bound = c in ("complexity", "complexity_per_neuron")
        rows = []
        for i, name in enumerate(names):
            ba = bound and table["complexity_not_measured_a"].iloc[i] is True
            bb = bound and table["complexity_not_measured_b"].iloc[i] is True
            rows.append([name, _num(table[f"{c}_a"].iloc[i], ba), _num(table[f"{c}_b"].iloc[i], bb),
                         _diff(table[f"{c}_diff"].iloc[i])])
        unit = COLUMN_GUIDE.get(c, ("",))[0]
        blocks.append(f"{c}" + (f" ({unit})" if unit else "") + "\n"
                      + _table(["layer", la, lb, f"{lb} − {la}"], rows))
    note = ("≤: H(Z) only an upper bound (above log2 of the rows, or above the sum of the unit "
            "entropies); its difference is not a measured change")
    if any(table.get(f"complexity_not_measured_{s}", []).apply(lambda v: v is True).any()
           for s in ("a", "b")):
        blocks.append(note)
    return "\n\n".join(blocks)


def run_compare(args) -> None:
    require("pycx compare", "pandas", "matplotlib")
    from .._io import atomic_write_bytes, atomic_write_text
    from ..report.compare import compare_figure, compare_reports, read_report

    reports = []
    for name, path in (("A", args.a), ("B", args.b)):
        try:
            reports.append(read_report(path, name))
        except ValueError as exc:
            raise UserError(str(exc).replace(f"argument '{name}'", name)) from None
    labels = args.labels or [Path(args.a).name or str(args.a), Path(args.b).name or str(args.b)]
    if labels[0] == labels[1]:
        labels = [f"A ({labels[0]})", f"B ({labels[1]})"]
    la, lb = labels
    columns = None
    if args.columns:
        columns = [c for text in args.columns for c in text.replace(",", " ").split() if c]
    try:
        table = compare_reports(reports[0], reports[1], on=args.on, columns=columns)
    except ValueError as exc:
        raise UserError(str(exc).replace("argument 'columns'", "--columns")) from None
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out: cannot create the folder {str(out)!r}: {exc}") from None
    if not args.quiet:
        print(f"A = {la}, B = {lb} (each at each model's last epoch)")
        print(_network_lines(reports[0], reports[1], la, lb))
        print()
        print(_layer_blocks(table, la, lb))
    atomic_write_text(out / "compare.csv", table.to_csv(index=False))
    fig = compare_figure(table, labels=(la, lb))
    atomic_write_bytes(out / "compare.png", fig.png)
    matched = int((table["layer_a"].notna() & table["layer_b"].notna()).sum())
    _say(args, f"pycx compare: {matched} layers matched ({len(table)} rows), "
               f"{len([c for c in table.columns if c.endswith('_diff')])} columns compared; "
               f"wrote {out / 'compare.csv'}, {out / 'compare.png'}")
