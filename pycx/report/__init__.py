"""The HTML report: `figures` (one function per figure of the papers), `html` (the page,
the CSV/JSON tables, `write_report`) and `compare` (two reports side by side).

May import: `pycx.analysis` (the table schema), the base layer; matplotlib and pandas lazily.
"""
from __future__ import annotations


def write_report(*args, **kwargs):
    """Writes the report folder (see `pycx.report.html.write_report`)."""
    from .html import write_report as _write_report
    return _write_report(*args, **kwargs)
