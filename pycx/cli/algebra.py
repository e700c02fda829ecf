"""`pycx algebra`: the layer-algebra table and plot of an architecture (no data).

The architecture runs on float zeros of ``--input-shape`` or on the batch of an ``--example``
file (keyword inputs, token ids: what zeros cannot stand for); ``--conv-kernel`` picks how a
grouped convolution's kernel size counts its inputs (`pycx.layer_algebra`'s ``conv_kernel``).
"""
from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

from ._util import UserError, load_model, parse_kwargs, parse_shape, require
from .analyze import _model_spec, _say


def run_algebra(args) -> None:
    require("pycx algebra", "torch")
    if (args.input_shape is None) == (args.example is None):
        raise UserError("--input-shape / --example: give exactly one (the shape of one input "
                        "without the batch axis, or a file holding an input batch)")
    shape = parse_shape(args.input_shape) if args.input_shape is not None else None
    example, described = _load_example(args.example) if args.example is not None else (None, "")
    if args.out is not None:
        require("pycx algebra --out (the plot)", "matplotlib")
    spec = _model_spec(args.model)
    model = load_model(spec, parse_kwargs(args.kwargs))
    import pycx

    what = {"input_shape": (1,) + shape} if shape is not None else {"example": example}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = pycx.layer_algebra(model, conv_kernel=args.conv_kernel, **what)
        except (ValueError, TypeError) as exc:
            raise UserError(_cli_words(str(exc).splitlines()[0])) from exc
        except Exception as exc:
            raise UserError(f"--model: the layer algebra cannot trace {spec}: "
                            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                            ) from exc
    for w in caught:
        print(f"pycx algebra: warning: {str(w.message).splitlines()[0]}", file=sys.stderr)

    captured = _captured_names(model, shape, example)
    if not args.quiet:
        print(_table(result, args.all_nodes, captured))
    on = f"input {'x'.join(map(str, shape))}" if shape is not None else described
    print(_summary(spec, on, result, args.conv_kernel))
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


def _cli_words(message: str) -> str:
    """layer_algebra's error in the command line's words (its arguments as options)."""
    for name, option in (("input_shape", "--input-shape"), ("example", "--example"),
                         ("conv_kernel", "--conv-kernel")):
        message = message.replace(f"argument '{name}'", option)
    return message


def _load_example(path: str):
    """(example batch for `pycx.layer_algebra`'s ``example=``, its description) from the
    --example file: ``.npy`` one positional input; ``.npz`` one array a positional input,
    several keyword inputs by name; ``.pt`` a tensor, a tuple/list of tensors (positional) or a
    dict of tensors (keyword). Never unpickled. Every input needs a batch axis first with at
    least one sample and a numeric or bool dtype; values and dtypes are kept as they are."""
    import numpy as np
    import torch

    p = Path(path)
    if not p.is_file():
        raise UserError(f"--example: file not found: {path}")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            obj = np.load(p, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                obj = {k: z[k] for k in z.files}
            if not obj:
                raise UserError(f"--example: {path} holds no arrays")
            if len(obj) == 1:
                obj = next(iter(obj.values()))
        elif suffix in (".pt", ".pth"):
            obj = torch.load(p, map_location="cpu", weights_only=True)
        else:
            raise UserError(f"--example: unsupported file type {suffix or '(none)'}: use .npy, "
                            ".npz or .pt")
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"--example: cannot read {path}: {type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc

    def tensor(name, v):
        if not isinstance(v, (np.ndarray, torch.Tensor)):
            raise UserError(f"--example: input {name} must be a tensor or array, got "
                            f"{type(v).__name__}")
        if v.ndim < 1 or v.shape[0] < 1:
            raise UserError(f"--example: input {name} needs a batch axis first with at least "
                            f"one sample, got shape {tuple(v.shape)} (dtype {v.dtype})")
        if isinstance(v, np.ndarray):
            if v.dtype.kind not in "biuf":
                raise UserError(f"--example: input {name} must be numeric or bool, got dtype "
                                f"{v.dtype} (shape {v.shape})")
            # native byte order and contiguous, as torch needs; the values and dtype unchanged
            return torch.from_numpy(np.ascontiguousarray(v, dtype=v.dtype.newbyteorder("=")))
        if v.dtype.is_complex:
            raise UserError(f"--example: input {name} must be real, got dtype {v.dtype} "
                            f"(shape {tuple(v.shape)})")
        return v

    if isinstance(obj, (np.ndarray, torch.Tensor)):
        example = tensor("x", obj)
        parts = {"x": example}
    elif isinstance(obj, (tuple, list)) and obj:
        example = tuple(tensor(f"#{i}", v) for i, v in enumerate(obj))
        parts = {f"#{i}": v for i, v in enumerate(example)}
    elif isinstance(obj, dict) and obj:
        if not all(isinstance(k, str) for k in obj):
            raise UserError(f"--example: a dict of keyword inputs needs string keys, got "
                            f"{sorted(map(repr, obj))}")
        example = {k: tensor(repr(k), v) for k, v in obj.items()}
        parts = example
    else:
        raise UserError(f"--example: {path} holds {type(obj).__name__} "
                        f"{'(empty)' if hasattr(obj, '__len__') else ''}; expected a tensor, a "
                        "tuple of tensors or a dict of tensors")
    described = f"example {path} (" + ", ".join(
        f"{k}: {'x'.join(map(str, v.shape))} {str(v.dtype).replace('torch.', '')}"
        for k, v in parts.items()) + ")"
    return example, described


def _num(v, digits=4) -> str:
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.{digits}g}"
    return str(v)


def _captured_names(model, shape, example=None) -> list:
    """The gating layers' names as `pycx.capture` / `pycx.analyze` give them, in forward order,
    from one forward pass of zeros of `shape` (architecture only) or of the example batch;
    [] when the capture cannot run."""
    import torch

    from ..gates.capture import capture
    if shape is None and isinstance(example, tuple):
        return []   # capture reads a tuple batch as (inputs, labels): several inputs it cannot
    try:
        was_training = model.training
        model.eval()
        try:
            batch = torch.zeros((2,) + tuple(shape)) if shape is not None else example
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # the names only; its warnings are not ours
                cap = capture(model, [batch], covariance=False, progress=False)
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


def _summary(spec, on: str, result, conv_kernel: str = "per_group") -> str:
    s = result.summary()
    kernel = "" if conv_kernel == "per_group" else f" (--conv-kernel {conv_kernel})"
    return (f"{spec} on {on}{kernel}: {s['n_layers']} layers, "
            f"log10 GCIP = {_num(s['gcip_log10'])}, log10 GCC = {_num(s['gcc_log10'])}, "
            f"GSC = {_num(s['gsc'])}, log10 GWC = {_num(s['gwc_log10'])}")
