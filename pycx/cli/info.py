"""`pycx info`: build information (SIMD levels, CUDA, GPU) as JSON."""
from __future__ import annotations

import json


def run_info() -> None:
    from .._build import build_info
    print(json.dumps(build_info(), indent=2))
