"""The package's dependency direction (docs/architecture.md), checked on the source.

Every import in pycx — at module level or inside a function, absolute or relative, and every
``pycx.<name>`` attribute of the lazy top-level facade — is resolved to the module that defines
it. The test fails on an import cycle anywhere in the package, and on an import against the
stated direction: a module may import its own package and the layers below its own, never a
layer above or beside it.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pycx

# The source tree beside the tests (CI tests an installed wheel: its sources are the same).
ROOT = Path(__file__).resolve().parents[1] / "pycx"
if not ROOT.is_dir():
    ROOT = Path(pycx.__file__).parent

# Lower layers first. The one-line rule of docs/architecture.md:
#   base <- reference <- kernels <- estimators <- {gates, compat, models, datasets} <- metrics
#        <- {analysis, train} <- report <- {replications, integrations} <- cli
LAYERS = [
    {"pycx._validate", "pycx._json", "pycx._io", "pycx._build", "pycx._progress", "pycx._pool",
     "pycx._cpu", "pycx._cuda"},
    {"pycx.reference"},
    {"pycx.kernels"},
    {"pycx.estimators"},
    {"pycx.gates", "pycx.compat", "pycx.models", "pycx.datasets"},
    {"pycx.metrics"},
    {"pycx.analysis", "pycx.train"},
    {"pycx.report"},
    {"pycx.replications", "pycx.integrations"},
    {"pycx.cli"},
]
EXTERNAL_OK_IN_REFERENCE = {"numpy", "math", "typing", "__future__", "dataclasses", "itertools",
                            "functools", "numbers", "collections"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


COMPILED = ("pycx._cpu", "pycx._cuda")  # extension modules: base layer, no Python source
ALIASES = {"pycx.__main__": "pycx.cli"}  # `python -m pycx` is part of the command line


def _modules() -> dict:
    found = {_module_name(p): p for p in ROOT.rglob("*.py")}
    found.update({name: None for name in COMPILED})
    return found


def _facade_module(name: str):
    """The module defining `pycx.<name>`, without importing anything."""
    if name in pycx._LAZY:
        return pycx._LAZY[name]
    value = pycx.__dict__.get(name)
    return getattr(value, "__module__", None) if value is not None else None


def _group(module: str):
    """(layer index, package) of a pycx module; the facade `pycx` itself is None."""
    module = ALIASES.get(module, module)
    for i, layer in enumerate(LAYERS):
        for package in layer:
            if module == package or module.startswith(package + "."):
                return i, ("base" if i == 0 else package)  # the base layer is one unit
    return None


def _resolve(name: str, modules: dict) -> str:
    """The longest prefix of a dotted name that is a pycx module."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return name


def _imports(module: str, path: Path, modules: dict) -> set:
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    facade_names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "pycx":
                    facade_names.add(alias.asname or "pycx")
                elif alias.name.startswith("pycx."):
                    found.add(_resolve(alias.name, modules))
                else:
                    found.add("external:" + alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("pycx"):
                found.add("external:" + target.split(".")[0])
                continue
            for alias in node.names:
                full = f"{target}.{alias.name}"
                if full in modules:
                    found.add(full)
                elif target == "pycx" and _facade_module(alias.name):
                    found.add(_facade_module(alias.name))
                else:
                    found.add(_resolve(target, modules))
    # `import pycx` then `pycx.name`: the module behind each lazily exported name used.
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in facade_names):
            target = _facade_module(node.attr)
            if target is None and f"pycx.{node.attr}" in modules:
                target = f"pycx.{node.attr}"
            found.add(target or "pycx")
    found.discard(module)
    return found


def _graph() -> dict:
    modules = _modules()
    return {m: {d for d in _imports(m, p, modules) if not d.startswith("external:")}
            for m, p in modules.items() if p is not None}


def test_every_module_has_a_layer():
    missing = [m for m, p in _modules().items() if m != "pycx" and _group(m) is None]
    assert not missing, f"modules outside every layer of docs/architecture.md: {missing}"


def test_no_import_against_the_direction():
    bad = []
    for module, deps in _graph().items():
        if module == "pycx":
            continue  # the facade re-exports every layer, lazily
        mine = _group(module)
        for dep in deps:
            theirs = _group(dep)
            if dep == "pycx":
                if mine[1] == "pycx.cli":
                    continue  # the command line sits above the facade
                bad.append(f"{module} -> the pycx facade (import the defining module instead)")
            elif theirs is None:
                continue
            elif theirs[1] == mine[1]:
                continue  # within its own package
            elif theirs[0] >= mine[0]:
                bad.append(f"{module} (layer {mine[0]}) -> {dep} (layer {theirs[0]})")
    assert not bad, "imports against the stated direction:\n" + "\n".join(sorted(bad))


def test_reference_depends_on_numpy_only():
    modules = _modules()
    bad = []
    for module, path in modules.items():
        if path is None or not module.startswith("pycx.reference"):
            continue
        for dep in _imports(module, path, modules):
            if dep.startswith("external:"):
                if dep[len("external:"):] not in EXTERNAL_OK_IN_REFERENCE:
                    bad.append(f"{module} -> {dep}")
            elif not (dep.startswith("pycx.reference") or dep == "pycx._validate"):
                bad.append(f"{module} -> {dep}")
    assert not bad, "the numpy reference must not depend on the fast paths:\n" + "\n".join(bad)


def test_no_import_cycle():
    graph = _graph()
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []
    counter = [0]

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index and v != "pycx":
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_checker_sees_a_planted_violation(tmp_path):
    # The checker must catch what it claims to: a kernel importing the analysis layer.
    modules = _modules()
    fake = tmp_path / "bad.py"
    fake.write_text("def f():\n    from ..analysis.analyze import analyze\n    import pycx\n"
                    "    return pycx.Tracker\n")
    deps = _imports("pycx.kernels.bad", fake, modules)
    assert "pycx.analysis.analyze" in deps and "pycx.analysis.tracker" in deps


def test_architecture_doc_names_every_package():
    doc = (ROOT.parent / "docs" / "architecture.md")
    text = doc.read_text()
    packages = sorted(p.parent.relative_to(ROOT.parent).as_posix()
                      for p in ROOT.rglob("__init__.py") if p.parent != ROOT)
    missing = [p for p in packages if f"`{p}/`" not in text]
    assert not missing, f"docs/architecture.md does not describe: {missing}"


def test_executor_pool_is_in_the_base_layer():
    # The estimators (the chain rule's fits) and the analysis (metric groups, checkpoints) run
    # work units on one pool: it sits below both, in the base layer, and imports only that.
    graph = _graph()
    assert _group("pycx._pool") == (0, "base")
    assert all(_group(d)[0] == 0 for d in graph["pycx._pool"])
    users = {_group(m)[1] for m, deps in graph.items() if "pycx._pool" in deps and m != "pycx"}
    assert {"pycx.estimators", "pycx.analysis"} <= users
    assert "pycx.estimators._pool" not in graph


def test_one_simd_dispatch_rule():
    # Every kernel picks its AVX-512 / AVX2 / portable variant through simd_pick / simd_vector
    # (csrc/include/pycx/simd.hpp), not through hand-written `if (level == ...)` ladders.
    csrc = ROOT.parent / "csrc"
    if not csrc.is_dir():
        import pytest

        pytest.skip("no C++ sources beside the package (an installed wheel)")
    ladders = [f"{p.relative_to(csrc)}:{i}" for p in sorted(csrc.rglob("*.[ch]pp"))
               if p.name != "simd.hpp" and p.name != "simd.cpp"
               for i, line in enumerate(p.read_text().splitlines(), 1)
               if "level == SimdLevel::" in line]
    assert not ladders, f"hand-written SIMD dispatch (use PYCX_SIMD_PICK): {ladders}"
    users = [p.name for p in csrc.glob("*.cpp") if "PYCX_SIMD_PICK" in p.read_text()
             or "PYCX_SIMD_VECTOR" in p.read_text()]
    assert {"boost_fit.cpp", "gate_mh.cpp", "kde_sums.cpp", "pack_bits.cpp"} <= set(users)
