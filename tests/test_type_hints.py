"""Every callable public name of `pycx` carries type hints (issue 20), and they resolve.

The package ships ``py.typed``, so its public signatures are what type checkers see: a missing
annotation there is a hole in the published types. Annotations are postponed (``from __future__
import annotations``) and torch-only names live under ``typing.TYPE_CHECKING``, so the second
test evaluates them the way a type checker would: in the defining module's namespace plus the
names of its ``if TYPE_CHECKING:`` block.
"""
from __future__ import annotations

import ast
import inspect
import sys
import typing

import pytest

import pycx


def _public_callables():
    out = []
    for name in pycx.__all__:
        obj = getattr(pycx, name)
        if not callable(obj):
            continue
        fn = obj.__init__ if inspect.isclass(obj) else obj
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):   # builtins / compiled functions carry no signature
            continue
        out.append((name, obj, fn, sig))
    return out


PUBLIC = _public_callables()


def test_public_callables_found():
    # the check below must look at the real API, not at an empty list
    names = {name for name, *_ in PUBLIC}
    assert {"analyze", "capture", "pack_bits", "Report", "xgb_entropy"} <= names


def _missing(obj, sig):
    params = [p for p in sig.parameters.values()
              if p.name not in ("self", "cls")
              and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    missing = [p.name for p in params if p.annotation is inspect.Parameter.empty]
    if not inspect.isclass(obj) and sig.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


def test_every_public_callable_is_annotated():
    holes = {name: m for name, obj, _, sig in PUBLIC if (m := _missing(obj, sig))}
    assert not holes, f"public names with unannotated parameters / return: {holes}"


def _type_checking_namespace(module_name):
    """The module's globals plus what its top-level ``if TYPE_CHECKING:`` blocks import or
    define."""
    module = sys.modules[module_name]
    ns = dict(vars(module))
    tree = ast.parse(inspect.getsource(module))
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) \
                and node.test.id == "TYPE_CHECKING":
            exec(compile(ast.Module(body=node.body, type_ignores=[]), module.__file__, "exec"), ns)
    return ns


@pytest.mark.parametrize("name", [name for name, *_ in PUBLIC])
def test_annotations_resolve(name):
    _, obj, fn, _ = next(entry for entry in PUBLIC if entry[0] == name)
    fn = inspect.unwrap(fn)
    # a NamedTuple's __init__ is object's: its annotations are the class's fields
    target = fn if inspect.isfunction(fn) else obj
    module_name = obj.__module__ if inspect.isclass(obj) else fn.__module__
    # raises NameError / TypeError on a misspelt or unimported name in any annotation
    hints = typing.get_type_hints(target, globalns=_type_checking_namespace(module_name))
    assert hints, f"{name}: no annotations resolved"


def test_import_does_not_pull_in_torch():
    # the annotations name torch types only under TYPE_CHECKING: importing pycx stays torch-free
    from pyrun import run_python  # outside the source tree: the installed pycx, as CI tests it

    code = "import pycx, sys; assert 'torch' not in sys.modules"
    proc = run_python(["-c", code], timeout=120)
    assert proc.returncode == 0, proc.stderr
