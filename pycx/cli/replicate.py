"""`pycx replicate NAME [--quick] [--out DIR] [--seed S]`: runs one of the papers' experiments
(`pycx.replications`) and prints where its figures and ``findings.json`` went.

The output folder is checked before any work (a file in its place or above it, a folder that
cannot be written, a full filesystem), and a write that fails during the run (the disk filled
up) is reported in one line: every file is written atomically, so what is there is whole."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from ._util import UserError

# A replication writes figures (tens of kB each) and findings.json; a filesystem with less room
# than this cannot hold them.
_MIN_FREE_BYTES = 1 << 20


def check_replication_out(path: str) -> Path:
    """The folder a replication writes into, checked before any work: absent (created by the
    run, with its parents), or an existing folder; never a file, never under a file, and its
    nearest existing folder writable on a filesystem that is not full. `UserError` otherwise.

    >>> import tempfile
    >>> check_replication_out(tempfile.mkdtemp() + "/new/run").name
    'run'
    """
    out = Path(path)
    try:
        is_file = out.exists() and not out.is_dir()
        existing = out.absolute()
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
    except OSError as exc:  # a name too long for the filesystem, a loop of links, ...
        raise UserError(f"--out: {path[:80]}{'...' if len(path) > 80 else ''} cannot be used: "
                        f"{exc.strerror or exc}") from exc
    if is_file:
        raise UserError(f"--out: {path} is an existing file, not a folder")
    if not existing.is_dir():
        raise UserError(f"--out: {path} lies under the file {existing}; no folder can be made "
                        "there")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"--out: cannot create files in {existing} (not a writable folder)")
    try:
        free = shutil.disk_usage(existing).free
    except OSError:  # no usage figure (some network filesystems): let the writes decide
        free = None
    if free is not None and free < _MIN_FREE_BYTES:
        raise UserError(f"--out: the filesystem of {path} is full ({free} bytes free)")
    return out


def run_replicate(args) -> None:
    from .. import replications
    names = replications.available()
    if args.list or args.name is None:
        if args.name is None and not args.list:
            raise UserError("give a replication name, or --list; available: " + ", ".join(names))
        for name in names:
            print(f"{name:28s} {replications.describe(name)}")
        return
    if args.name not in names:
        raise UserError(f"unknown replication {args.name!r}; available: {', '.join(names)}")
    out = args.out or f"replication-{args.name}"
    check_replication_out(out)
    try:
        result = replications.run(args.name, quick=args.quick, out=out, seed=args.seed,
                                  progress=not args.quiet)
    except ModuleNotFoundError as exc:
        if exc.name != "torchvision":
            raise
        # The architectures of the badias2021 zoo replications: the message says what to install.
        raise UserError(str(exc)) from exc
    except OSError as exc:
        # The folder passed the checks above, so this is the environment changing under the
        # run (the disk filled up, a file size limit, permissions): one line, not a traceback.
        what = exc.strerror or str(exc)
        where = f" ({exc.filename})" if exc.filename else ""
        raise UserError(f"--out: writing the results to {out} failed: {what}{where}") from exc
    if not args.quiet:
        from ..replications.findings import verdict_line
        for c in result.get("claims", []):
            print(verdict_line(c))  # a quick run's verdicts say they only check the pipeline
        print(f"findings: {out}/findings.json ({result.get('wall_time_s', float('nan')):.0f} s)")
