"""The documentation the repository carries is true to the tree.

- Every repository path written in backquotes in the checked pages (`DOCS`) exists: a token
  with a ``/`` that ends in a source or document suffix, or in ``/`` (a folder). Templates
  (``<op>``, ``*``) are not paths.
- Every ``pycx.<dotted.name>`` written in backquotes there resolves (module import, then
  attributes); names that need an optional package that is not installed are skipped.
- Every module under ``pycx/`` is on the map of ``docs/architecture.md``.
- No file of the repository cites the old specification file outside it: definitions live in
  ``docs/definitions.md``, cited as "docs/definitions.md §N".

The pages are read from the checkout (tests/ is beside docs/ and pycx/); CI tests an installed
wheel from the repository root, so the checkout is there too.
"""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ["docs/architecture.md", "CONTRIBUTING.md", "docs/decisions.md", "docs/definitions.md"]
if not all((ROOT / d).is_file() for d in DOCS):  # pragma: no cover - tests run from a checkout
    pytest.skip("the documentation is not beside the tests", allow_module_level=True)

SUFFIXES = (".py", ".md", ".cpp", ".cu", ".cuh", ".h", ".hpp", ".sh")
_SPAN = re.compile(r"`([^`]+)`")
_PATHLIKE = re.compile(r"^[A-Za-z_.][\w.-]*(?:/[\w.-]+)*/?$")
_NAME = re.compile(r"(?<![\w.])pycx(?:\.[A-Za-z_]\w*)+")
# Built in two parts so that this file does not match itself.
_OLD_SPEC = re.compile(r"(?<![\w/])" + "SP" + r"EC(?!\w)")
_OUTSIDE = ("shared" + "/papers", "../" + "shared/")  # the old home of the papers
SCANNED = ["pycx", "tests", "benchmarks", "docs", "csrc", "cuda", "tools"]
SCANNED_FILES = ["README.md", "CONTRIBUTING.md", "CHANGELOG.md", "mkdocs.yml", "pyproject.toml",
                 "CMakeLists.txt"]
GENERATED = {"docs/index.md", "docs/CONTRIBUTING.md", "docs/CHANGELOG.md"}  # tools/build_docs.sh
TEXT_SUFFIXES = SUFFIXES + (".txt", ".yml", ".yaml", ".toml", ".cfg", ".ini", ".json")
# Optional packages a documented name may need; a missing one skips the name.
OPTIONAL = {"torch", "transformers", "lightning", "pytorch_lightning", "tensorboard", "xgboost",
            "pandas", "matplotlib", "sklearn", "scipy", "cupy", "dask", "distributed", "mlxtend",
            "threadpoolctl", "tqdm", "pycx._cuda"}


def _spans(text: str):
    """(line number, backquoted text) of every inline code span."""
    for m in _SPAN.finditer(text):
        yield text.count("\n", 0, m.start()) + 1, m.group(1)


def path_tokens(span: str):
    """The tokens of a code span that look like repository paths."""
    for token in re.split(r"[\s,;()\"'=>]+", span):
        token = token.split(":", 1)[0].rstrip(".")
        if "/" not in token or not _PATHLIKE.match(token):
            continue  # a formula (`-D/(2 var)`), a template (`<op>`, `*`), a URL
        if token.endswith(SUFFIXES) or token.endswith("/"):
            yield token


def path_exists(token: str, root: Path = ROOT) -> bool:
    """A path of the repository, or of the package (`reference/` for `pycx/reference/`)."""
    token = token[2:] if token.startswith("./") else token
    return (root / token).exists() or (root / "pycx" / token).exists()


def missing_paths(text: str, root: Path = ROOT):
    return [(line, token) for line, span in _spans(text) for token in path_tokens(span)
            if not path_exists(token, root)]


def _resolve(name: str):
    """Imports the longest module prefix of `name`, then walks the attributes."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError as e:
            if e.name and not e.name.startswith("pycx") or e.name == "pycx._cuda":
                raise
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(name, name=name)


def unresolved_names(text: str):
    bad, skipped = [], []
    names = sorted({m.group(0) for _, span in _spans(text) for m in _NAME.finditer(span)})
    for name in names:
        try:
            _resolve(name)
        except ModuleNotFoundError as e:
            root = (e.name or "").split(".")[0]
            if e.name in OPTIONAL or root in OPTIONAL:
                skipped.append(name)
            else:
                bad.append(f"{name} ({e})")
        except (ImportError, AttributeError) as e:
            bad.append(f"{name} ({type(e).__name__}: {e})")
    return bad, skipped


@pytest.mark.parametrize("doc", DOCS)
def test_paths_named_in_docs_exist(doc):
    missing = missing_paths((ROOT / doc).read_text())
    assert not missing, f"{doc} names paths that are not in the tree: {missing}"


@pytest.mark.parametrize("doc", DOCS)
def test_code_spans_pair_up(doc):
    # A double backquote (reST's inline literal) outside a code block shifts the pairing of
    # every later backquote, so the paths and names after it were not checked at all.
    text = re.sub(r"```.*?```", "", (ROOT / doc).read_text(), flags=re.S)
    doubled = [text.count("\n", 0, m.start()) + 1 for m in re.finditer("``", text)]
    assert not doubled, f"{doc}: double backquotes (use one) on lines {doubled}"
    long = [(line, span[:40]) for line, span in _spans(text) if "\n\n" in span]
    assert not long, f"{doc}: code spans that cross a paragraph (an unpaired backquote): {long}"


@pytest.mark.parametrize("doc", DOCS)
def test_pycx_names_in_docs_resolve(doc):
    bad, _ = unresolved_names((ROOT / doc).read_text())
    assert not bad, f"{doc} names pycx objects that do not exist: {bad}"


def test_checker_sees_a_made_up_path_and_name(tmp_path):
    (tmp_path / "pycx" / "gates").mkdir(parents=True)
    (tmp_path / "pycx" / "gates" / "ops.py").write_text("")
    text = ("The table is in `pycx/gates/ops.py`, the GPU side in `pycx/kernels/_device.py`;\n"
            "see `pycx/gates/ops.py:run_gate` and `gates/` but not `cuda/<op>.cu`.")
    assert missing_paths(text, tmp_path) == [(1, "pycx/kernels/_device.py")]
    bad, _ = unresolved_names("`pycx.kernels.pack_bits.no_such_name` and `pycx.no_such_module.x`")
    assert len(bad) == 2


def test_architecture_map_lists_every_module():
    text = (ROOT / "docs" / "architecture.md").read_text()
    listed = {token for _, span in _spans(text) for token in path_tokens(span)}
    modules = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "pycx").rglob("*.py"))
    missing = [m for m in modules if m not in listed]
    assert not missing, f"docs/architecture.md's map does not list: {missing}"


def _repository_text_files():
    for folder in SCANNED:
        for p in sorted((ROOT / folder).rglob("*")):
            rel = p.relative_to(ROOT).as_posix()
            if (p.is_file() and p.suffix in TEXT_SUFFIXES and rel not in GENERATED
                    and "__pycache__" not in p.parts and "results" not in p.parts):
                yield rel, p
    for name in SCANNED_FILES:
        if (ROOT / name).is_file():
            yield name, ROOT / name


def test_no_citation_of_a_file_outside_the_repository():
    cites = []
    for rel, p in _repository_text_files():
        text = p.read_text(errors="replace")
        for m in _OLD_SPEC.finditer(text):
            cites.append(f"{rel}:{text.count(chr(10), 0, m.start()) + 1}")
        if any(s in text for s in _OUTSIDE):
            cites.append(f"{rel}: a path outside the repository")
    assert not cites, ("cite docs/definitions.md §N instead of the old specification file: "
                       f"{cites}")


def test_definitions_keep_the_section_numbers():
    text = (ROOT / "docs" / "definitions.md").read_text()
    numbers = re.findall(r"^## (\d+)\. ", text, flags=re.M)
    assert numbers == [str(i) for i in range(1, 10)]
    assert re.findall(r"^### (5\.\d) ", text, flags=re.M) == ["5.1", "5.2", "5.3"]
