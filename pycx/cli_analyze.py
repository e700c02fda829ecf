"""`pycx analyze` and `pycx algebra`: a user's model (MODULE:FACTORY) and data."""
from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

from .cli_util import (UserError, load_arrays, load_model, load_weights, parse_kwargs,
                       parse_shape, require)


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


def run_algebra(args) -> None:
    require("pycx algebra", "torch")
    shape = parse_shape(args.input_shape)
    if args.out is not None:
        require("pycx algebra --out (the plot)", "matplotlib")
    spec = _model_spec(args.model)
    model = load_model(spec, parse_kwargs(args.kwargs))
    import pycx

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = pycx.layer_algebra(model, (1,) + shape)
        except ValueError as exc:
            raise UserError(str(exc).splitlines()[0]) from exc
        except Exception as exc:
            raise UserError(f"--model: the layer algebra cannot trace {spec}: "
                            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                            ) from exc
    for w in caught:
        print(f"pycx algebra: warning: {str(w.message).splitlines()[0]}", file=sys.stderr)

    if not args.quiet:
        print(_table(result, args.all_nodes))
    print(_summary(spec, shape, result))
    if args.out is not None:
        from .report import algebra_figure
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        result.to_csv(out / "algebra.csv", all_nodes=args.all_nodes)
        result.to_json(out / "algebra.json", all_nodes=args.all_nodes)
        name = spec.rpartition(":")[2] + (f"({args.kwargs})" if args.kwargs else "")
        fig = algebra_figure({name: result})
        (out / "algebra.png").write_bytes(fig.png)
        _say(args, f"wrote {out / 'algebra.csv'}, {out / 'algebra.json'}, {out / 'algebra.png'}")


def _num(v, digits=4) -> str:
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.{digits}g}"
    return str(v)


def _table(result, all_nodes: bool) -> str:
    rows = result.nodes if all_nodes else result.layers
    cols = [("name", "node"), ("op", "op"), ("kind", "kind"), ("p", "p"), ("c", "c"),
            ("power_log10", "log10 power"), ("complexity_log10", "log10 complexity"),
            ("output_shape", "output shape")]
    cells = [[h for _, h in cols]]
    for r in rows:
        cells.append([_num(r[k]) if k != "output_shape" else "x".join(map(str, r[k]))
                      if isinstance(r[k], tuple) else str(r[k]) for k, _ in cols])
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    numeric = {3, 4, 5, 6}
    lines = []
    for j, row in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                               for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _summary(spec, shape, result) -> str:
    s = result.summary()
    return (f"{spec} on input {'x'.join(map(str, shape))}: {s['n_layers']} layers, "
            f"log10 GCIP = {_num(s['gcip_log10'])}, log10 GCC = {_num(s['gcc_log10'])}, "
            f"GSC = {_num(s['gsc'])}, log10 GWC = {_num(s['gwc_log10'])}")


def run_analyze(args, metrics) -> None:
    require("pycx analyze", "torch", "matplotlib", "pandas", "sklearn", "tqdm", "scipy")
    if "janik" in metrics:
        require("pycx analyze --metrics janik (the classifier-chain complexity)", "xgboost")
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
    from .report import write_report

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
    path = write_report([report], args.out, algebras=algebras, title=f"pycx report: {name}",
                        intro=f"{name} from {spec}"
                              f"{' with weights ' + args.weights if args.weights else ''}, "
                              f"analysed on {len(x)} samples of {args.data}.",
                        progress=not args.quiet)
    _say(args, f"report: {path}")


def _analyze(pycx, model, inputs, labels, name, metrics, args):
    batches = [inputs[i:i + 256] for i in range(0, len(inputs), 256)]
    try:
        return pycx.analyze(model, batches, labels=labels,
                            metrics="all" if args.metrics is None else list(metrics),
                            model_name=name, seed=args.seed, progress=not args.quiet,
                            max_samples=None)
    except ValueError as exc:
        # Argument problems found by the analysis (e.g. a group that needs labels).
        raise UserError(str(exc).splitlines()[0]) from exc
