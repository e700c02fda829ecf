"""The README's library examples run as written (every ```python block, in order, in one
namespace)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_examples():
    assert _blocks(), "README.md has no ```python example"


@pytest.mark.slow
def test_readme_python_examples_run(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("xgboost")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for i, block in enumerate(_blocks()):
        if "# not run" in block:  # a block that needs a GPU or a cluster says so
            continue
        try:
            exec(compile(block, f"README.md python block {i}", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"README python block {i} fails: {type(exc).__name__}: {exc}\n{block}")
