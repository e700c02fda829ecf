"""
``write_report(reports, out_dir)`` takes one or more `pycx.Report` objects (or anything with
the same ``rows`` / ``network`` / ``curves`` / ``settings`` fields, see the report schema in
`pycx.analysis.table`) and, optionally, `pycx.layer_algebra` results, and writes into ``out_dir``:

- ``report.html``: one self-contained page (figures embedded as base64 PNG, viewable offline),
  each figure with a caption saying what it shows and the settings used, warnings next to the
  figures whose values sit at a ceiling, and one settings table (values shared by every run
  once, values that change listed per run);
- ``fig_*.png`` and ``fig_*.svg``: the same figures as raster and vector files;
- ``metrics.csv`` (one row per model, epoch and layer), ``columns.md`` (what every column
  means: unit, estimator, cap), ``metrics.json`` (everything) and ``settings.json`` (the full
  settings of every run).

matplotlib (Agg backend) and pandas are imported inside the functions: ``import pycx`` does not
load them.
"""
from __future__ import annotations

import base64
import html
import json
import math
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from .._json import to_json_value

__all__ = ["write_report", "check_report_dir"]

from ..analysis.table import _beta_across, effective_dimension_undefined, h_s_saturated
from .columns import columns_markdown
from .figures import (_FIGURES, _as_list, _flag, _last_epoch, _models, algebra_layer_names,
                      complexity_not_measured, figures, frame, network_table)

if TYPE_CHECKING:
    import os

    from ..analysis.table import Report


def _report_name(report, index: int) -> str:
    """The models a report holds, joined (reports are usually one model each)."""
    names = list(dict.fromkeys(str(r.get("model", "model")) for r in report.rows))
    return ", ".join(names) if names else f"report {index}"


def _network_rows(reports):
    return [dict(rec) for rep in reports for rec in (getattr(rep, "network", None) or [])]


def _network_with_measured_sums(records, df):
    """The network records with the sum over measured layers beside the all-layer sum
    (``network_complexity``, kept as computed: an upper bound when a layer's is)."""
    if not len(df) or not records:
        return records
    sums = {(r.model, None if not np.isfinite(r.epoch) else int(r.epoch)): r
            for r in network_table(df).itertuples()}
    for rec in records:
        s = sums.get((rec.get("model"), rec.get("epoch")))
        if s is not None:
            rec["network_complexity_measured"] = float(s.network_complexity_measured)
            rec["complexity_layers_not_measured"] = int(s.layers_not_measured)
    return records


def _fmt(v):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    return f"{v:.4g}" if isinstance(v, (float, np.floating)) else html.escape(str(v))


def _layer_cell(rec, key):
    name = rec.get(key)
    if name:
        return html.escape(str(name))
    why = rec.get(f"{key}_why")
    return f"undefined: {html.escape(why)}" if why else "–"


def _summary_table(df, reports) -> str:
    """One row per model at its last epoch. The network complexity is summed over the layers
    whose H(Z) is a measurement only (the column says so and how many layers it covers); the
    sum over every layer is in its own column, labelled an upper bound when it includes a
    bound, and the flag column names the layers left out."""
    net = {(r.get("model"), r.get("epoch")): r for r in _network_rows(reports)}
    last = _last_epoch(df)
    sums = network_table(last) if len(last) else None
    head = ("<tr><th>model</th><th>epoch</th><th>gating layers</th><th>network complexity, "
            "measured layers only: Σ H(Z) (bits)</th><th>Σ H(Z) over all layers (bits)</th>"
            "<th>not measured (H(Z) only a bound)</th><th>critical layer</th>"
            "<th>Zipf layer (β≈1)</th><th>β across layers</th></tr>")
    body = []
    for m in _models(last):
        g = last[last["model"] == m]
        ep = g["epoch"].max()
        ep_key = None if not np.isfinite(ep) else int(ep)
        rec = net.get((m, ep_key)) or net.get((m, None)) or {}
        s = sums[sums["model"] == m].iloc[0]
        n_bound = int(s["layers_not_measured"])
        n_layers = int(s["layers"])
        # The all-layer sum: the network record's value when there is one (the same sum).
        total = rec.get("network_complexity", s["network_complexity"])
        if n_layers == 0:
            measured = total_cell = flag = "–"
        else:
            measured = (f"{_fmt(s['network_complexity_measured'])} ({n_layers - n_bound} of "
                        f"{n_layers} layers)" if n_bound else _fmt(s["network_complexity_measured"]))
            total_cell = (f"≤ {_fmt(total)} (upper bound)" if n_bound else _fmt(total))
            bound_layers = g.loc[complexity_not_measured(g) & g["complexity"].notna(), "layer"]
            flag = (f"{n_bound}: {html.escape(', '.join(map(str, bound_layers)))}" if n_bound
                    else "none")
        beta = _fmt(rec.get("beta_across_layers", _beta_across(g)))
        n_sat = int(h_s_saturated(g).sum())
        if n_sat:  # the fit without the layers whose H[s] measures only the sample size
            beta += (f"; {_fmt(_beta_across(g[~h_s_saturated(g)]))} without the {n_sat} "
                     "layer(s) at H[s] = log2 M")
        body.append(f"<tr><td>{html.escape(str(m))}</td><td>{_fmt(ep_key)}</td><td>{len(g)}</td>"
                    f"<td>{measured}</td><td>{total_cell}</td><td>{flag}</td>"
                    f"<td>{_layer_cell(rec, 'critical_layer')}</td>"
                    f"<td>{_layer_cell(rec, 'zipf_layer')}</td>"
                    f"<td>{beta}</td></tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _bound_notes(df) -> list:
    """Layers whose H(Z) is not a measurement at the last epoch: above log2(rows) (the chain
    rule's bound is above what the rows could show) or above the sum of the unit entropies
    (negative NTC); layers whose H[s] sits at log2 M, or whose effective dimension is 0."""
    if "complexity" not in df.columns and "h_s" not in df.columns:
        return []
    notes = []
    last = _last_epoch(df)
    for m in _models(last):
        g = last[last["model"] == m]
        rows = g[_flag(g, "complexity_exceeds_log2_rows")]
        if len(rows):
            notes.append(
                f"{m}: H(Z) exceeds log2(per-patch rows) = "
                f"{float(rows['complexity_bound_log2_rows'].max()):.2f} bits in {len(rows)} "
                f"layer(s) ({', '.join(map(str, rows['layer']))}): the XGBoost chain rule is an "
                "upper bound; there it says only that the rows are too few to pin the entropy "
                "down. These layers are drawn hollow and left out of the measured network sum.")
        sat = g[h_s_saturated(g)]
        if len(sat):
            notes.append(
                f"{m}: H[s] at its ceiling log2 M (every sample its own state) in {len(sat)} "
                f"layer(s) ({', '.join(map(str, sat['layer']))}): there H[s] measures the "
                "number of samples, not the layer, and H[k] is about 0. Drawn hollow; beta "
                "across layers is also given without them.")
        flat = g[effective_dimension_undefined(g)]
        if len(flat):
            notes.append(
                f"{m}: effective dimension 0 (zero variance: undefined) in {len(flat)} "
                f"layer(s) ({', '.join(map(str, flat['layer']))}): drawn as grey crosses, left "
                "out of the mean over layers.")
        neg = g[g["ntc"].to_numpy(dtype=float) < 0] if "ntc" in g.columns else g.iloc[:0]
        if len(neg):
            notes.append(
                f"{m}: normalised total correlation below 0 in {len(neg)} layer(s) "
                f"({', '.join(f'{r.layer} {r.ntc:.2f}' for r in neg.itertuples())}): impossible "
                "for entropies (the H(Z) estimate exceeds the sum of the unit entropies); drawn "
                "as crosses, and their H(Z) counts as a bound.")
    return notes


# ----------------------------------------------------------------------------------- settings

def _flat(d, prefix=""):
    out = {}
    for k, v in (d or {}).items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def _short_value(v) -> str:
    if isinstance(v, (list, tuple)):
        text = json.dumps(to_json_value(list(v), infinity_as_text=False))
        return text if len(text) <= 60 else f"{len(v)} items"
    if isinstance(v, float):
        return f"{v:.6g}"
    if v is None:
        return "–"
    return str(v)


def _runs(reports):
    """(model, epoch, flat settings, seconds) per analysis run, in order."""
    out = []
    for rep in reports:
        settings = getattr(rep, "settings", {}) or {}
        base = {k: v for k, v in settings.items() if k not in ("timings", "runs")}
        runs = settings.get("runs") or [{"model": _report_name(rep, 0), "epoch": None,
                                         "timings": settings.get("timings", {})}]
        for run in runs:
            flat = _flat(run.get("settings") or base)
            out.append((run.get("model"), run.get("epoch"), flat,
                        float(sum((run.get("timings") or {}).values()))))
    # The k-means baseline depends on the inputs only: a Tracker computes it at a model's
    # first analysis, so later runs of that model record "not computed"; that is not a change.
    first_kmeans = {}
    for model, _, flat, _ in out:
        if flat.get("kmeans.computed") is True:
            first_kmeans.setdefault(model, {k: v for k, v in flat.items()
                                            if k.startswith("kmeans.")})
    for model, _, flat, _ in out:
        if flat.get("kmeans.computed") is False and model in first_kmeans:
            for k in [k for k in flat if k.startswith("kmeans.")]:
                del flat[k]
            flat.update(first_kmeans[model])
    return out


def _settings_html(reports) -> str:
    runs = _runs(reports)
    if not runs:
        return "<p>No settings recorded.</p>"
    keys = list(dict.fromkeys(k for _, _, flat, _ in runs for k in flat))
    shared, varying = [], []
    for k in keys:
        values = {json.dumps(to_json_value(flat.get(k), infinity_as_text=False), sort_keys=True)
                  for _, _, flat, _ in runs}
        (shared if len(values) == 1 else varying).append(k)
    # Per-model facts (layer lists, sample counts) vary between models but not within one.
    parts = ["<p>Values shared by every analysis run:</p><table><tr><th>setting</th>"
             "<th>value</th></tr>"]
    for k in shared:
        parts.append(f"<tr><td><code>{html.escape(k)}</code></td>"
                     f"<td>{html.escape(_short_value(runs[0][2].get(k)))}</td></tr>")
    parts.append("</table>")
    parts.append("<p>Values that differ between runs (one row per analysis run), and the time "
                 "each run took:</p><table><tr><th>model</th><th>epoch</th>"
                 + "".join(f"<th><code>{html.escape(k)}</code></th>" for k in varying)
                 + "<th>time (s)</th></tr>")
    for model, epoch, flat, seconds in runs:
        cells = "".join(f"<td>{html.escape(_short_value(flat.get(k)))}</td>" for k in varying)
        parts.append(f"<tr><td>{html.escape(str(model))}</td><td>{_fmt(epoch)}</td>{cells}"
                     f"<td>{seconds:.2f}</td></tr>")
    parts.append("</table><p>Every setting of every run, in full: <a href='settings.json'>"
                 "settings.json</a>; everything (rows, network values, curves, settings): "
                 "<a href='metrics.json'>metrics.json</a>.</p>")
    return "".join(parts)


def _not_captured_html(reports) -> str:
    """The activation-like ops that ran and were not read as gates, per model: op, count,
    reason (the capture warned once; settings["not_captured"] lists each layer)."""
    rows = []
    for i, rep in enumerate(reports):
        settings = getattr(rep, "settings", {}) or {}
        runs = settings.get("runs") or [{"model": _report_name(rep, i), "settings": settings}]
        seen = set()
        for run in runs:
            model = run.get("model")
            skipped = (run.get("settings") or settings).get("not_captured") or []
            if model in seen or not skipped:
                continue
            seen.add(model)
            by_op = OrderedDict()
            for d in skipped:
                n, reason = by_op.get((d["op"], d["reason"]), (0, d["reason"]))
                by_op[(d["op"], d["reason"])] = (n + 1, reason)
            for (op, _), (n, reason) in by_op.items():
                rows.append(f"<tr><td>{html.escape(str(model))}</td><td><code>{html.escape(op)}"
                            f"</code></td><td>{n}</td><td>{html.escape(reason)}</td></tr>")
    if not rows:
        return ""
    return ("<h2>Not captured</h2><p>Activation-like ops that ran and were not read as gates "
            "(each layer in <code>settings.json</code>, <code>not_captured</code>):</p>"
            "<div class='scroll'><table><tr><th>model</th><th>op</th><th>layers</th>"
            "<th>reason</th></tr>" + "".join(rows) + "</table></div>")


_CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1180px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}h1{font-size:1.6em}h2{font-size:1.2em;
margin-top:2em;border-bottom:1px solid #ddd}figure{margin:0}img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.9em;color:#444;margin:.4em 0 1em}table{border-collapse:collapse;font-size:.85em;
margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
.note{background:#fff6e0;border-left:4px solid #e0a000;padding:.4em .8em;margin:.4em 0;font-size:.9em}
.scroll{overflow-x:auto}"""


# The files a report folder holds (write_report replaces the folder whole).
_REPORT_FILES = ("report.html", "metrics.csv", "metrics.json", "settings.json", "columns.md")


def _is_report_file(name: str) -> bool:
    return name in _REPORT_FILES or (name.startswith("fig_") and name.endswith((".png", ".svg")))


def check_report_dir(out_dir) -> Path:
    """The folder a report will replace, checked before any work: absent (its parent is
    created), empty, or holding only a previous report's files (``report.html``,
    ``fig_*.png``/``.svg``, ``metrics.csv``, ``metrics.json``, ``settings.json``,
    ``columns.md``). A folder with other files, a file in its place or a parent that cannot
    be written raise ValueError naming ``out_dir``. A symbolic link is followed (its target
    is replaced). Returns the absolute path.

    >>> import tempfile, pathlib
    >>> check_report_dir(pathlib.Path(tempfile.mkdtemp()) / "new").name
    'new'
    """
    import os

    out = Path(out_dir)
    if out.is_symlink():
        out = out.resolve()
    if out.exists():
        if not out.is_dir():
            raise ValueError(f"argument 'out_dir' ({str(out_dir)!r}) is an existing file, not a "
                             "folder")
        others = sorted(p.name for p in out.iterdir() if not _is_report_file(p.name))
        if others:
            raise ValueError(f"argument 'out_dir' ({str(out_dir)!r}) holds files that are not "
                             f"a pycx report's ({', '.join(others[:3])}"
                             f"{', ...' if len(others) > 3 else ''}); the report replaces the "
                             "whole folder: choose a new or empty folder")
    out = out.absolute()
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"argument 'out_dir' ({str(out_dir)!r}): cannot create files in "
                         f"{str(parent)!r} (not a writable folder)")
    return out


def write_report(reports: "Report | Sequence[Report]", out_dir: "str | os.PathLike", *,
                 algebras: Optional[dict] = None,
                 training: Optional[dict] = None, title: str = "pycx report",
                 intro: str = "", progress: bool = False) -> Path:
    """Writes ``report.html``, ``fig_<name>.png`` and ``.svg`` per figure, ``metrics.csv``,
    ``columns.md``, ``metrics.json`` and ``settings.json`` into ``out_dir`` (created if
    needed); returns the HTML file's path.

    The folder is written atomically (every file into a temporary folder beside it, then
    renamed into place): it is complete or absent, and an interrupted write or a full disk
    leaves a previous report there as it was. ``out_dir`` must be new, empty or hold only a
    previous report (see `check_report_dir`).

    reports: a `pycx.Report` or a list of them (one per model, say); ``algebras``: optional
    {model name: `pycx.layer_algebra` result}; ``training``: optional {model name: {"epoch",
    "train_loss", "test_accuracy": lists}}; ``intro``: a paragraph (plain text) shown first.

    >>> import tempfile, pathlib, pycx
    >>> rep = pycx.Report([{"model": "m", "layer": "relu1"}])      # no values: no figures
    >>> page = write_report(rep, pathlib.Path(tempfile.mkdtemp()) / "report")
    >>> page.name, sorted(p.name for p in page.parent.iterdir())
    ('report.html', ['columns.md', 'metrics.csv', 'metrics.json', 'report.html', 'settings.json'])
    """
    from .._io import atomic_dir

    final = check_report_dir(out_dir)
    with atomic_dir(final) as tmp:
        _write_report_files(tmp, reports, algebras=algebras, training=training, title=title,
                            intro=intro, progress=progress)
    return final / "report.html"


def _write_report_files(out: Path, reports, *, algebras, training, title, intro, progress):
    """Writes the report's files into the (temporary) folder ``out``."""
    reports = _as_list(reports)
    df = frame(reports)
    df.to_csv(out / "metrics.csv", index=False)
    (out / "columns.md").write_text(columns_markdown() + "\n", encoding="utf-8")
    layer_names = {m: df[df["model"] == m].drop_duplicates("layer").sort_values("depth")["layer"]
                   .astype(str).tolist() for m in (algebras or {})} if len(df) else {}
    algebra = {}
    for m, la in (algebras or {}).items():
        d = la.to_dict()
        # The captured layer name of each gating node, so both tables use the same names.
        d["layer_names"] = algebra_layer_names(la, layer_names.get(m))
        algebra[m] = d
    settings = {_report_name(r, i): getattr(r, "settings", {}) for i, r in enumerate(reports)}
    data = {
        "rows": df.astype(object).where(df.notna(), None).to_dict("records"),
        "network": _network_with_measured_sums(_network_rows(reports), df),
        "curves": {_report_name(r, i): getattr(r, "curves", {}) for i, r in enumerate(reports)},
        "settings": settings,
        "algebra": algebra,
        "training": training or {},
    }
    with open(out / "metrics.json", "w") as f:
        json.dump(to_json_value(data, infinity_as_text=False), f, indent=1, allow_nan=False)
    with open(out / "settings.json", "w") as f:
        json.dump(to_json_value(settings, infinity_as_text=False), f, indent=1, allow_nan=False)

    bar = None
    n_steps = 1 + (len(_FIGURES) if len(df) else 0) + (1 if algebras else 0)
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=n_steps, desc="report figures", unit="fig", leave=False)
    try:
        figs = figures(reports, algebras, training, progress=bar.update if bar else None)
    finally:
        if bar is not None:
            bar.close()
    for fig in figs:
        (out / f"fig_{fig.name}.png").write_bytes(fig.png)
        if fig.svg:
            (out / f"fig_{fig.name}.svg").write_bytes(fig.svg)

    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title><style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    if intro:
        parts.append(f"<p>{html.escape(intro)}</p>")
    parts.append("<p>Units: entropies in bits, effective dimension a count. What each number "
                 "is, its estimator and the cap that bounds it: <a href='columns.md'>columns.md"
                 "</a> (the column guide of <a href='metrics.csv'>metrics.csv</a>).</p>")
    if len(df):
        parts.append("<h2>Summary</h2>" + _summary_table(df, reports))
        parts.extend(f"<div class='note'>{html.escape(n)}</div>" for n in _bound_notes(df))
    for fig in figs:
        b64 = base64.b64encode(fig.png).decode("ascii")
        files = f"fig_{fig.name}.png" + (f", fig_{fig.name}.svg" if fig.svg else "")
        parts.append(f"<h2 id='{fig.name}'>{html.escape(fig.title)}</h2>")
        parts.extend(f"<div class='note'>{html.escape(n)}</div>" for n in fig.notes)
        parts.append(f"<figure><img alt='{html.escape(fig.title)}' "
                     f"src='data:image/png;base64,{b64}'>"
                     f"<figcaption>{html.escape(fig.caption)} (files {files})"
                     "</figcaption></figure>")
    parts.append(_not_captured_html(reports))
    parts.append("<h2>Settings</h2><div class='scroll'>" + _settings_html(reports) + "</div>")
    parts.append("</body></html>")
    (out / "report.html").write_text("".join(parts), encoding="utf-8")
