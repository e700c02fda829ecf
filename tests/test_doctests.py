"""Runs the docstring examples of every module of the installed package (what
``pytest --doctest-modules`` does, but against the installed pycx: the source tree holds no
compiled module)."""
from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import pycx

# Modules whose import needs an optional package that a minimal install lacks are skipped by
# name of that package, not silently: the test extras install all of them.
_MODULES = sorted(m.name for m in pkgutil.walk_packages(pycx.__path__, "pycx.")
                  if not m.name.rsplit(".", 1)[-1].startswith("_") or m.name.endswith("__init__"))


@pytest.mark.parametrize("name", _MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             report=True, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
