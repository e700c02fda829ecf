"""Running Python in a subprocess against the same pycx as the test session."""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pycx


def run_python(args, *, cwd=None, env=None, **kwargs):
    """Runs ``python ARGS`` outside the repository (the working directory comes first on
    ``sys.path`` and the source tree there holds no compiled module), with PYTHONPATH pointing
    at the directory this session imported pycx from."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(Path(pycx.__file__).resolve().parents[1]), env.get("PYTHONPATH", "")) if p)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          cwd=cwd or tempfile.gettempdir(), env=env, **kwargs)
