"""`pycx algebra`: the layer-algebra table and plot of an architecture (no data)."""
from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

from ._util import UserError, load_model, parse_kwargs, parse_shape, require
from .analyze import _model_spec, _say


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

    captured = _captured_names(model, shape)
    if not args.quiet:
        print(_table(result, args.all_nodes, captured))
    print(_summary(spec, shape, result))
    if args.out is not None:
        from ..report.figures import algebra_figure
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        result.to_csv(out / "algebra.csv", all_nodes=args.all_nodes)
        result.to_json(out / "algebra.json", all_nodes=args.all_nodes)
        name = spec.rpartition(":")[2] + (f"({args.kwargs})" if args.kwargs else "")
        fig = algebra_figure({name: result}, layer_names={name: captured} if captured else None)
        (out / "algebra.png").write_bytes(fig.png)
        _say(args, f"wrote {out / 'algebra.csv'}, {out / 'algebra.json'}, {out / 'algebra.png'}")


def _num(v, digits=4) -> str:
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.{digits}g}"
    return str(v)


def _captured_names(model, shape) -> list:
    """The gating layers' names as `pycx.capture` / `pycx.analyze` give them, in forward order,
    from one forward pass of zeros (architecture only); [] when the capture cannot run."""
    import torch

    from ..gates.capture import capture
    try:
        was_training = model.training
        model.eval()
        try:
            cap = capture(model, [torch.zeros((2,) + tuple(shape))], covariance=False,
                          progress=False)
        finally:
            model.train(was_training)
    except Exception:  # a model the capture cannot run: the table keeps the node names only
        return []
    return list(cap.names)


def _table(result, all_nodes: bool, captured=None) -> str:
    from ..report.figures import algebra_layer_names
    names = algebra_layer_names(result, captured or [])  # {} when the counts differ
    rows = result.nodes if all_nodes else result.layers
    cols = [("name", "node"), ("layer", "captured as"), ("op", "op"), ("kind", "kind"),
            ("p", "p"), ("c", "c"), ("power_log10", "log10 power"),
            ("complexity_log10", "log10 complexity"), ("output_shape", "output shape")]
    cells = [[h for _, h in cols]]
    for r in rows:
        r = dict(r, layer=names.get(r["name"], ""))
        cells.append([_num(r[k]) if k != "output_shape" else "x".join(map(str, r[k]))
                      if isinstance(r[k], tuple) else str(r[k]) for k, _ in cols])
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    numeric = {4, 5, 6, 7}
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
