"""The findings format shared by every replication: one JSON file per run.

``findings.json`` = ``{"replication", "paper", "title", "quick", "seeds", "settings",
"claims": [...], "figures": [...], "wall_time_s"}``; each claim is
``{"claim": words, "measured": {...values, per seed and their spread...}, "expected": words,
"reproduces": true | false | "partly"}``.
"""
from __future__ import annotations

import json
import math
from typing import Any, Iterable, Sequence

import numpy as np

from .._io import atomic_write_text

REPRODUCES = (True, False, "partly")


def claim(text: str, measured: dict, reproduces, expected: str = "", **extra) -> dict:
    """One tested claim of a paper.

    >>> claim("beta is near 1 at the critical layer", {"beta": 1.02}, True)["reproduces"]
    True
    """
    if reproduces not in REPRODUCES:
        raise ValueError(f"reproduces: must be True, False or 'partly', got {reproduces!r}")
    out = {"claim": str(text), "expected": str(expected), "measured": measured,
           "reproduces": reproduces}
    out.update(extra)
    return out


def verdict(flags) -> "bool | str":
    """A claim tested per seed: True when it holds for every seed, "partly" for some, False for
    none.

    >>> verdict([True, False]), verdict([True, True]), verdict([])
    ('partly', True, False)
    """
    flags = [bool(f) for f in flags]
    return True if flags and all(flags) else ("partly" if any(flags) else False)


def spread(values: Sequence[float]) -> dict:
    """Per-seed values with their mean, standard deviation and range (NaN-aware).

    >>> spread([1.0, 3.0])["mean"]
    2.0
    """
    v = np.asarray(list(values), dtype=float)
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        return {"values": v.tolist(), "mean": math.nan, "std": math.nan,
                "min": math.nan, "max": math.nan}
    return {"values": v.tolist(), "mean": float(finite.mean()),
            "std": float(finite.std(ddof=1)) if finite.size > 1 else 0.0,
            "min": float(finite.min()), "max": float(finite.max())}


# Said on every claim of a quick run and on every verdict printed from one: a quick run
# trains for minutes on a fraction of the data, so its verdict tests the pipeline, not the paper.
QUICK_NOTE = ("quick run: checks that the pipeline runs end to end, not the claim; run without "
              "--quick for a verdict")


def make_findings(replication: str, paper: str, title: str, *, quick: bool,
                  seeds: Iterable[int], settings: dict, claims: list,
                  figures: Iterable[str] = (), **extra) -> dict:
    """The findings dict of one run (written by `write_findings`). In a quick run every
    claim gets ``"quick": true`` and ``"quick_note"`` (`QUICK_NOTE`); its rule and verdict are
    unchanged.

    >>> f = make_findings("x", "paper", "title", quick=True, seeds=[0], settings={},
    ...                   claims=[claim("beta is near 1", {"beta": 1.0}, True)])
    >>> f["claims"][0]["quick"], f["claims"][0]["reproduces"]
    (True, True)
    """
    claims = [dict(c, quick=True, quick_note=QUICK_NOTE) if quick else dict(c)
              for c in claims]
    out = {"replication": replication, "paper": paper, "title": title, "quick": bool(quick),
           "seeds": [int(s) for s in seeds], "settings": settings, "claims": claims,
           "figures": sorted(figures)}
    out.update(extra)
    return out


def verdict_line(c: dict) -> str:
    """The printed line of one claim: ``[verdict] claim``, and in a quick run the words that
    it only checks the pipeline.

    >>> verdict_line({"claim": "H[s] falls", "reproduces": True})
    '[   True] H[s] falls'
    >>> verdict_line({"claim": "H[s] falls", "reproduces": True, "quick": True})[:36]
    '[   True] H[s] falls (quick run: che'
    """
    line = f"[{str(c['reproduces']):>7}] {c['claim']}"
    return line + f" ({QUICK_NOTE})" if c.get("quick") else line


def _jsonable(value: Any):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None  # strict JSON: NaN/inf become null
    return value


def write_findings(out_dir, findings: dict, name: str = "findings.json") -> str:
    """Writes `findings` as strict JSON (NaN and infinities as null) atomically; returns the
    path."""
    from pathlib import Path
    path = Path(out_dir) / name
    atomic_write_text(path, json.dumps(_jsonable(findings), indent=2, sort_keys=False) + "\n")
    return str(path)


def save_figure(fig, out_dir, stem: str) -> list:
    """Writes a matplotlib figure as ``<stem>.png`` and ``<stem>.svg`` into `out_dir`
    atomically, closes it, and returns the file names."""
    from pathlib import Path

    import matplotlib.pyplot as plt

    from .._io import atomic_path
    names = []
    for ext in ("png", "svg"):
        name = f"{stem}.{ext}"
        with atomic_path(Path(out_dir) / name) as tmp:
            fig.savefig(tmp, format=ext, dpi=110, bbox_inches="tight")
        names.append(name)
    plt.close(fig)
    return names
