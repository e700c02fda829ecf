"""
``write_report(reports, out_dir)`` takes one or more `pycx.Report` objects (or anything with
the same ``rows`` / ``network`` / ``curves`` / ``settings`` fields, see the report schema in
`pycx.analysis.table`) and, optionally, `pycx.layer_algebra` results, and writes into ``out_dir``:

- ``report.html``: one self-contained page (figures embedded as base64 PNG, viewable offline),
  each figure with a caption saying what it shows and the settings used;
- ``fig_*.png``: the same figures as files;
- ``metrics.csv`` (one row per model, epoch and layer) and ``metrics.json`` (everything).

matplotlib (Agg backend) and pandas are imported inside the functions: ``import pycx`` does not
load them.
"""
from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Optional

import numpy as np

from .._json import to_json_value

__all__ = ["write_report", "check_report_dir"]

from .figures import _FIGURES, _as_list, _last_epoch, _models, figures, frame


def _report_name(report, index: int) -> str:
    """The models a report holds, joined (reports are usually one model each)."""
    names = list(dict.fromkeys(str(r.get("model", "model")) for r in report.rows))
    return ", ".join(names) if names else f"report {index}"


def _network_rows(reports):
    return [dict(rec) for rep in reports for rec in (getattr(rep, "network", None) or [])]


def _summary_table(df, reports) -> str:
    net = {(r.get("model"), r.get("epoch")): r for r in _network_rows(reports)}
    last = _last_epoch(df)
    head = ("<tr><th>model</th><th>epoch</th><th>gating layers</th><th>network complexity "
            "(bits)</th><th>critical layer</th><th>Zipf layer (β≈1)</th><th>β across layers"
            "</th></tr>")
    body = []
    for m in _models(last):
        g = last[last["model"] == m]
        ep = g["epoch"].max()
        ep_key = None if not np.isfinite(ep) else int(ep)
        rec = net.get((m, ep_key)) or net.get((m, None)) or {}
        nc = rec.get("network_complexity", g["complexity"].sum(min_count=1))

        def fmt(v):
            if v is None or (isinstance(v, float) and not math.isfinite(v)):
                return "–"
            return f"{v:.4g}" if isinstance(v, (float, np.floating)) else html.escape(str(v))
        body.append(f"<tr><td>{html.escape(str(m))}</td><td>{fmt(ep_key)}</td><td>{len(g)}</td>"
                    f"<td>{fmt(nc)}</td><td>{fmt(rec.get('critical_layer'))}</td>"
                    f"<td>{fmt(rec.get('zipf_layer'))}</td>"
                    f"<td>{fmt(rec.get('beta_across_layers'))}</td></tr>")
    return f"<table>{head}{''.join(body)}</table>"


_CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1080px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}h1{font-size:1.6em}h2{font-size:1.2em;
margin-top:2em;border-bottom:1px solid #ddd}figure{margin:0}img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.9em;color:#444;margin:.4em 0 1em}table{border-collapse:collapse;font-size:.9em}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}pre{background:#f6f6f6;padding:.8em;
overflow:auto;font-size:.8em}"""


def _is_report_file(name: str) -> bool:
    return name in _REPORT_FILES or (name.startswith("fig_") and name.endswith(".png"))


_REPORT_FILES = ("report.html", "metrics.csv", "metrics.json")


def check_report_dir(out_dir) -> Path:
    """The folder a report will replace, checked before any work: absent (its parent is
    created), empty, or holding only a previous report's files (``report.html``,
    ``fig_*.png``, ``metrics.csv``, ``metrics.json``). A folder with other files, a file in
    its place or a parent that cannot be written raise ValueError naming ``out_dir``. A
    symbolic link is followed (its target is replaced). Returns the resolved path.

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


def write_report(reports, out_dir, *, algebras: Optional[dict] = None,
                 training: Optional[dict] = None, title: str = "pycx report",
                 intro: str = "", progress: bool = False) -> Path:
    """Writes ``report.html``, one ``fig_<name>.png`` per figure, ``metrics.csv`` and
    ``metrics.json`` into ``out_dir`` (created if needed); returns the HTML file's path.

    The folder is written atomically (all files into a temporary folder beside it, then
    renamed into place): it is complete or absent, and an interrupted write or a full disk
    leaves a previous report there as it was. ``out_dir`` must be new, empty or hold only a
    previous report (see `check_report_dir`).

    reports: a `pycx.Report` or a list of them (one per model, say); ``algebras``: optional
    {model name: `pycx.layer_algebra` result}; ``training``: optional {model name: {"epoch",
    "train_loss", "test_accuracy": lists}}; ``intro``: a paragraph (plain text) shown first.
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
    data = {
        "rows": df.astype(object).where(df.notna(), None).to_dict("records"),
        "network": _network_rows(reports),
        "curves": {_report_name(r, i): getattr(r, "curves", {}) for i, r in enumerate(reports)},
        "settings": {_report_name(r, i): getattr(r, "settings", {}) for i, r in enumerate(reports)},
        "algebra": {m: la.to_dict() for m, la in (algebras or {}).items()},
        "training": training or {},
    }
    with open(out / "metrics.json", "w") as f:
        json.dump(to_json_value(data, infinity_as_text=False), f, indent=1, allow_nan=False)

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

    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title><style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    if intro:
        parts.append(f"<p>{html.escape(intro)}</p>")
    if len(df):
        parts.append("<h2>Summary</h2>" + _summary_table(df, reports))
    for fig in figs:
        b64 = base64.b64encode(fig.png).decode("ascii")
        parts.append(f"<h2 id='{fig.name}'>{html.escape(fig.title)}</h2><figure>"
                     f"<img alt='{html.escape(fig.title)}' src='data:image/png;base64,{b64}'>"
                     f"<figcaption>{html.escape(fig.caption)} (file fig_{fig.name}.png)"
                     "</figcaption></figure>")
    settings = {_report_name(r, i): getattr(r, "settings", {}) for i, r in enumerate(reports)}
    parts.append("<h2>Settings</h2><pre>" + html.escape(
        json.dumps(to_json_value(settings, infinity_as_text=False), indent=1)) + "</pre>")
    parts.append("<p>Per-layer numbers: <code>metrics.csv</code>; everything: "
                 "<code>metrics.json</code>.</p></body></html>")
    (out / "report.html").write_text("".join(parts), encoding="utf-8")
