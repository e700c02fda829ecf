"""Packaging contracts: cheap import, build information, SIMD control."""
import json
import os

import pytest

import pycx
from pyrun import run_python


def test_import_is_cheap(tmp_path):
    code = ("import sys, pycx; bad = [m for m in ('torch', 'pycx._cuda', 'cupy', 'xgboost', "
            "'matplotlib', 'pandas', 'sklearn') if m in sys.modules]; print(bad)")
    out = run_python(["-c", code], cwd=tmp_path, check=True)
    assert out.stdout.strip() == "[]"


def test_build_info_fields():
    info = pycx.build_info()
    assert info["version"] == pycx.__version__
    assert info["simd_selected"] in info["simd_supported"]
    assert set(info["simd_supported"]) <= set(info["simd_compiled"])
    assert "scalar" in info["simd_supported"]
    assert info["threads"] >= 1
    if not info["gpu_usable"]:
        assert info["gpu_reason"], "an unusable GPU must say why"


def test_forcing_simd_level_from_environment(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYCX_SIMD"}
    for level in pycx.supported_simd_levels():
        out = run_python(["-c", "import pycx; print(pycx.simd_level())"], cwd=tmp_path, check=True,
                         env={**env, "PYCX_SIMD": level})
        assert out.stdout.strip() == level
    bad = run_python(["-c", "import pycx"], cwd=tmp_path, env={**env, "PYCX_SIMD": "sse9"})
    assert bad.returncode != 0 and "sse9" in bad.stderr


def test_use_simd_restores_level():
    before = pycx.simd_level()
    with pycx.use_simd("scalar"):
        assert pycx.simd_level() == "scalar"
    assert pycx.simd_level() == before
    with pytest.raises(ValueError, match="unknown SIMD level"):
        pycx.set_simd_level("sse9")


def test_cli_info(tmp_path):
    out = run_python(["-m", "pycx", "info"], cwd=tmp_path, check=True)
    assert json.loads(out.stdout)["version"] == pycx.__version__


def test_every_public_name_resolves():
    # Each lazily exported name must exist in the module the export table points to.
    import importlib.util
    for name, module in pycx._LAZY.items():
        # Importing a submodule binds its name in the package: it must not shadow a function.
        parent, child = module.rsplit(".", 1)
        assert parent != "pycx" or child not in pycx._LAZY, f"module {module} shadows pycx.{child}"
        if importlib.util.find_spec(module) is None:
            pytest.fail(f"pycx.{name}: module {module} does not exist")
        getattr(pycx, name)


def test_subpackages_are_attributes_after_import_pycx(tmp_path):
    # The README writes `pycx.train.fit(...)` after a plain `import pycx` (issue 32, item 7):
    # each subpackage is imported on first attribute access, and not before.
    code = ("import sys, pycx\n"
            "assert 'torch' not in sys.modules\n"
            "names = ('train', 'datasets', 'models', 'replications', 'analysis', 'estimators',\n"
            "         'gates', 'kernels', 'reference', 'compat', 'report', 'integrations', 'cli')\n"
            "assert all(n in dir(pycx) for n in names)\n"
            "assert callable(pycx.train.fit) and callable(pycx.datasets.digits)\n"
            "assert pycx.models.DBN.__name__ == 'DBN' and pycx.replications.available()\n"
            "assert all(getattr(pycx, n).__name__ == 'pycx.' + n for n in names)\n"
            "try:\n"
            "    pycx.trains\n"
            "except AttributeError as exc:\n"
            "    assert \"no attribute 'trains'\" in str(exc)\n"
            "else:\n"
            "    raise SystemExit('pycx.trains resolved')\n"
            "print('ok')\n")
    out = run_python(["-c", code], cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
