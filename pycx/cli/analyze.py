"""`pycx analyze`: a user's model (MODULE:FACTORY) on a user's data, and the report."""
from __future__ import annotations

import sys
import warnings

from ._util import (UserError, check_out_dir, load_arrays, load_model, load_weights,
                    parse_kwargs, require)


def _model_spec(spec: str) -> str:
    """A bare name of a built-in model (``cifar_resnet``) means ``pycx.models:cifar_resnet``."""
    if ":" not in spec:
        import importlib
        models = importlib.import_module("pycx.models")
        if spec in getattr(models, "__all__", ()):
            return f"pycx.models:{spec}"
    return spec


def _say(args, text):
    if not args.quiet:
        print(text, file=sys.stderr, flush=True)


def run_analyze(args, metrics) -> None:
    require("pycx analyze", "torch", "matplotlib", "pandas", "sklearn", "tqdm", "scipy")
    if "janik" in metrics and args.complexity == "xgb" and args.booster == "xgboost":
        require("pycx analyze --metrics janik (the classifier-chain complexity)", "xgboost")
    # The output location is checked before any work: an unusable --out must not cost the
    # whole analysis.
    out = check_out_dir(args.out)
    x, y = load_arrays(args.data, key=args.key, labels=args.labels)
    if args.max_samples is not None:
        x = x[:args.max_samples]
        y = None if y is None else y[:args.max_samples]
    needs_labels = [m for m in metrics if m in ("relevance", "kde")]
    if y is None and needs_labels and args.metrics is not None:
        raise UserError(f"--metrics {' '.join(needs_labels)} needs --labels (for the "
                        "classification error and I(X;Σ;Y)); give --labels, or leave --metrics "
                        "out to compute the label-free values only")
    spec = _model_spec(args.model)
    model = load_model(spec, parse_kwargs(args.kwargs))
    if args.weights:
        load_weights(model, args.weights)
    model.eval()
    name = args.name or spec.rpartition(":")[2]
    if y is None and needs_labels:
        _say(args, "pycx analyze: note: no --labels: the classification error and I(X;Σ;Y) "
                   "are not computed")

    import numpy as np
    import torch
    import pycx
    from ..report import write_report

    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    inputs = torch.from_numpy(np.ascontiguousarray(x)).to(dtype) \
        if np.issubdtype(x.dtype, np.floating) else torch.from_numpy(np.ascontiguousarray(x))
    try:
        with torch.no_grad():
            model(inputs[:2])
    except Exception as exc:
        raise UserError(f"--data: the model cannot run on inputs of shape "
                        f"{tuple(x.shape[1:])} per sample: {type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc

    _say(args, f"pycx analyze: {name} on {len(x)} samples of shape {tuple(x.shape[1:])}, "
               f"metrics {', '.join(metrics)}")
    report = _analyze(pycx, model, inputs, y, name, metrics, args)
    algebras = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            algebras[name] = pycx.layer_algebra(model, (1,) + tuple(x.shape[1:]))
        except Exception as exc:  # not traceable by torch.fx: the report goes without it
            _say(args, f"pycx analyze: note: no layer algebra ({type(exc).__name__}: "
                       f"{str(exc).splitlines()[0] if str(exc) else ''})")
    try:
        path = write_report([report], out, algebras=algebras, title=f"pycx report: {name}",
                            intro=f"{name} from {spec}"
                                  f"{' with weights ' + args.weights if args.weights else ''}, "
                                  f"analysed on {len(x)} samples of {args.data}.",
                            progress=not args.quiet)
    except OSError as exc:  # e.g. the disk filled up during the write: nothing was left there
        raise UserError(f"--out: writing the report to {args.out} failed "
                        f"({exc.strerror or type(exc).__name__}); nothing was written there") from exc
    _say(args, f"report: {path}")


def _complexity(args) -> dict:
    """--complexity (a method of the estimators' registry) and, for xgb, --booster."""
    if args.complexity == "xgb":
        return {"method": "xgb", "backend": args.booster}
    return {"method": args.complexity}


def _analyze(pycx, model, inputs, labels, name, metrics, args):
    batches = [inputs[i:i + 256] for i in range(0, len(inputs), 256)]
    try:
        return pycx.analyze(model, batches, labels=labels,
                            metrics="all" if args.metrics is None else list(metrics),
                            model_name=name, seed=args.seed, progress=not args.quiet,
                            max_samples=None,
                            estimators={"complexity": _complexity(args)},
                            executor=None if args.executor == "none" else args.executor)
    except ValueError as exc:
        # Argument problems found by the analysis (e.g. a group that needs labels).
        raise UserError(str(exc).splitlines()[0]) from exc
