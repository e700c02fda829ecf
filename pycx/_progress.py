"""The one progress helper: a tqdm bar when progress is on and tqdm is installed (the
"analysis" extra), otherwise a stand-in that does nothing. tqdm is imported only when a bar is
drawn, so that ``import pycx`` stays cheap. May import: nothing of pycx.
"""
from __future__ import annotations

from typing import Iterable, Optional


class NoBar:
    """Stands in for a tqdm bar when progress is off (or tqdm is missing)."""

    def update(self, n=1):
        pass

    def set_postfix_str(self, text):
        pass

    def close(self):
        pass


def _tqdm():
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


def progress_bar(progress: bool, *, total: Optional[int], desc: str, unit: str = "it",
                 leave: bool = False):
    """A bar with ``update`` / ``set_postfix_str`` / ``close`` counting to `total`.

    >>> bar = progress_bar(False, total=3, desc="work")
    >>> bar.update(1); bar.close()
    """
    tqdm = _tqdm() if progress else None
    if tqdm is None:
        return NoBar()
    return tqdm(total=total, desc=desc, unit=unit, leave=leave)


def progress_iter(items: Iterable, progress: bool, *, desc: str, unit: str = "it",
                  total: Optional[int] = None, leave: bool = False) -> Iterable:
    """`items`, wrapped in a bar (or unchanged when progress is off or tqdm is missing).

    >>> list(progress_iter(range(3), False, desc="work"))
    [0, 1, 2]
    """
    tqdm = _tqdm() if progress else None
    if tqdm is None:
        return items
    if total is None:
        return tqdm(items, desc=desc, unit=unit, leave=leave)
    return tqdm(items, total=total, desc=desc, unit=unit, leave=leave)
