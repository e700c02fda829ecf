"""The findings format shared by every replication: one JSON file per run.

``findings.json`` = ``{"replication", "paper", "title", "quick", "seeds", "settings",
"claims": [...], "figures": [...], "wall_time_s"}``; each claim is
``{"key": stable id, "claim": words, "expected": the rule in words (its partial-credit rule
included), "measured": {...values, per seed and their spread...}, "reproduces": true | false |
"partly"}``.

Every claim comes from a `Rule`: its key, its words, its rule in words, and the function that
computes the verdict from the claim's ``measured`` dict alone, so anyone can recompute a
verdict from ``findings.json``. A replication module lists its rules in ``RULES``; `run`
(in ``pycx.replications``) refuses findings whose claims are not exactly those rules or whose
verdicts the rules do not reproduce. Each rule has a unit test with a synthetic ``measured``
that must come out true and one that must come out false (``RULE_CASES`` in the tests).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .._io import atomic_write_text

REPRODUCES = (True, False, "partly")


def claim(text: str, measured: dict, reproduces, expected: str = "", *, key: str = "",
          **extra) -> dict:
    """One tested claim of a paper (replications build claims with a `Rule`, which computes
    the verdict; this is the dict it makes).

    >>> claim("beta is near 1 at the critical layer", {"beta": 1.02}, True, key="beta")["key"]
    'beta'
    """
    if reproduces not in REPRODUCES:
        raise ValueError(f"reproduces: must be True, False or 'partly', got {reproduces!r}")
    if not isinstance(measured, dict):
        raise TypeError(f"measured: expected a dict, got {type(measured).__name__}")
    out = {"key": str(key), "claim": str(text), "expected": str(expected), "measured": measured,
           "reproduces": reproduces}
    out.update(extra)
    return out


_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Rule:
    """One claim of a paper with its verdict rule, written before the full run.

    `key` is stable (snake_case; never reused for a different claim), `claim` the paper's
    claim in words, `expected` the rule in words including when it is "partly", and `verdict`
    computes True / False / "partly" from the claim's ``measured`` dict alone.
    `changed_after_full_run` says what changed, when the rule was added or changed after the
    full run whose verdict is published; it is copied into every claim it produces.

    >>> r = Rule("h_falls", "H falls with depth", "every step down: true; else false",
    ...          lambda m: all(a > b for a, b in zip(m["h"], m["h"][1:])))
    >>> r({"h": [3.0, 2.0]})["reproduces"], r({"h": [1.0, 2.0]})["key"]
    (True, 'h_falls')
    """
    key: str
    claim: str
    expected: str
    verdict: Callable[[dict], Any]
    changed_after_full_run: str = ""

    def __post_init__(self):
        if not isinstance(self.key, str) or not _KEY.match(self.key):
            raise ValueError(f"key: must be snake_case ([a-z][a-z0-9_]*), got {self.key!r}")
        if not self.claim or not self.expected:
            raise ValueError(f"rule {self.key!r}: claim and expected must be non-empty words")

    def __call__(self, measured: dict, **extra) -> dict:
        """The claim dict: the verdict computed from `measured` by this rule."""
        out = claim(self.claim, measured, _as_verdict(self.verdict(measured)), self.expected,
                    key=self.key, **extra)
        if self.changed_after_full_run:
            out["changed_after_full_run"] = self.changed_after_full_run
        return out


def _as_verdict(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if v == "partly":
        return "partly"
    raise ValueError(f"a rule's verdict must be True, False or 'partly', got {v!r}")


def rule_table(rules: Sequence[Rule]) -> dict:
    """``{key: Rule}``, refusing a repeated key.

    >>> list(rule_table([Rule("a", "x", "y", bool)]))
    ['a']
    """
    table = {}
    for r in rules:
        if not isinstance(r, Rule):
            raise TypeError(f"RULES: expected Rule objects, got {type(r).__name__}")
        if r.key in table:
            raise ValueError(f"RULES: key {r.key!r} appears twice")
        table[r.key] = r
    return table


def check_claims(claims: Sequence[dict], rules: Sequence[Rule]) -> None:
    """Raises unless `claims` are exactly one per rule of `rules` and each verdict is the one
    its rule computes from the claim's ``measured`` dict (so no verdict is set by hand).

    >>> r = Rule("a", "x", "true when m is 1", lambda m: m["m"] == 1)
    >>> check_claims([r({"m": 1})], [r])
    >>> check_claims([dict(r({"m": 1}), reproduces=False)], [r])
    Traceback (most recent call last):
    ...
    ValueError: claim 'a': reproduces=False but its rule computes True from its measured values
    """
    table = rule_table(rules)
    keys = [c.get("key") for c in claims]
    missing = [k for k in table if k not in keys]
    unknown = [k for k in keys if k not in table]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if missing or unknown or repeated:
        raise ValueError(f"claims do not match RULES: missing {missing}, unknown {unknown}, "
                         f"repeated {repeated}")
    for c in claims:
        rule = table[c["key"]]
        want = _as_verdict(rule.verdict(c["measured"]))
        if c["reproduces"] != want:
            raise ValueError(f"claim {c['key']!r}: reproduces={c['reproduces']!r} but its rule "
                             f"computes {want!r} from its measured values")
        if c["expected"] != rule.expected or c["claim"] != rule.claim:
            raise ValueError(f"claim {c['key']!r}: its words differ from its rule's")


def fraction_verdict(flags, *, true_at: float = 1.0, partly_at: float = 0.5):
    """A verdict from per-case flags: True when the fraction that hold is >= `true_at`,
    "partly" when >= `partly_at`, else False (and False with no cases).

    >>> fraction_verdict([True, True, False]), fraction_verdict([True, False, False])
    ('partly', False)
    >>> fraction_verdict([True, True, False], true_at=2 / 3)
    True
    """
    flags = [bool(f) for f in flags]
    if not flags:
        return False
    frac = sum(flags) / len(flags)
    return True if frac >= true_at - 1e-12 else ("partly" if frac >= partly_at - 1e-12 else False)


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
    ...                   claims=[claim("beta is near 1", {"beta": 1.0}, True, key="beta")])
    >>> f["claims"][0]["quick"], f["claims"][0]["reproduces"]
    (True, True)
    """
    keys = [c.get("key") for c in claims]
    if any(not isinstance(k, str) or not _KEY.match(k) for k in keys):
        raise ValueError(f"claims: every claim needs a snake_case key, got {keys}")
    if len(set(keys)) != len(keys):
        raise ValueError(f"claims: repeated keys in {keys}")
    claims = [dict(c, quick=True, quick_note=QUICK_NOTE) if quick else dict(c)
              for c in claims]
    out = {"replication": replication, "paper": paper, "title": title, "quick": bool(quick),
           "seeds": [int(s) for s in seeds], "settings": settings, "claims": claims,
           "figures": sorted(figures)}
    out.update(extra)
    return out


def verdict_line(c: dict) -> str:
    """The printed line of one claim: ``[verdict] key: claim``, and in a quick run the words
    that it only checks the pipeline.

    >>> verdict_line({"key": "h_s", "claim": "H[s] falls", "reproduces": True})
    '[   True] h_s: H[s] falls'
    >>> verdict_line({"key": "h_s", "claim": "H[s] falls", "reproduces": True, "quick": True})[:41]
    '[   True] h_s: H[s] falls (quick run: che'
    """
    line = f"[{str(c['reproduces']):>7}] {c.get('key', '?')}: {c['claim']}"
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
