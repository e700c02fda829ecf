"""Runs the docstring examples of every module of the installed package (what
``pytest --doctest-modules`` does, but against the installed pycx: the source tree holds no
compiled module), and checks that every public function and class of ``pycx`` has one."""
from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import pycx

_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

# Every public module, the package itself (``pycx.simd_level``, ...) and the private modules
# that define an eagerly imported public name (``pycx._build.build_info``). The lazy names
# live in public modules (checked below), so listing them needs no import of torch & co.
_MODULES = sorted(
    {m.name for m in pkgutil.walk_packages(pycx.__path__, "pycx.")
     if not m.name.rsplit(".", 1)[-1].startswith("_")}
    | {"pycx"}
    | {getattr(pycx, n).__module__ for n in pycx.__all__
       if n not in pycx._LAZY and callable(getattr(pycx, n))})


_OPTIONAL = {"lightning", "pytorch_lightning", "transformers", "tensorboard", "dask",
             "distributed", "torchvision", "mlxtend", "xgboost", "sklearn", "scipy", "pandas",
             "matplotlib", "tqdm", "accelerate"}


@pytest.mark.parametrize("name", _MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        # A module built on an optional package (lightning, transformers, ...) is tested where
        # that package is installed, as the test extras do; without it, its examples cannot run.
        if (exc.name or "").split(".")[0] in _OPTIONAL:
            pytest.skip(f"{name} needs the optional package {exc.name}")
        raise
    result = doctest.testmod(module, optionflags=_FLAGS, report=True, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def _public_callables():
    return [n for n in pycx.__all__ if callable(getattr(pycx, n))]


def test_every_public_name_has_an_example():
    # The project habit: each public function or class shows a short runnable example.
    missing = [n for n in _public_callables() if ">>>" not in (getattr(pycx, n).__doc__ or "")]
    assert not missing, ("public names of pycx without a '>>>' example in their docstring: "
                         + ", ".join(missing))


def test_every_public_example_is_run():
    # An example counts only if the sweep above runs it: its defining module must be swept,
    # and doctest must find the object there (not, e.g., a wrapper defined elsewhere).
    found = {}
    finder = doctest.DocTestFinder()
    unswept = []
    for n in _public_callables():
        obj = getattr(pycx, n)
        module = obj.__module__
        if module not in _MODULES:
            unswept.append(f"{n} ({module})")
            continue
        if module not in found:
            found[module] = {t.name for t in finder.find(importlib.import_module(module))
                             if t.examples}
        if f"{module}.{obj.__qualname__}" not in found[module]:
            unswept.append(f"{n} ({module}.{obj.__qualname__})")
    assert not unswept, "public names whose examples the doctest sweep does not run: " + \
        ", ".join(unswept)
