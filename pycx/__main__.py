"""Command line entry point (`pycx` / `python -m pycx`)."""
from __future__ import annotations

import argparse
import json
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="pycx", description="Complexity metrics of neural networks.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="print build information (SIMD levels, CUDA, GPU) as JSON")
    args = parser.parse_args(argv)
    if args.command == "info":
        from . import build_info
        print(json.dumps(build_info(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
