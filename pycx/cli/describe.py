"""`pycx describe`: every gating layer of a model on one input of a given shape (name, kind,
shape, unit axis and how it was decided, bits, memory) and every activation-like op that ran
and is not captured, with the reason. No data, no estimator: a dry run of the capture."""
from __future__ import annotations

from pathlib import Path

from ._util import UserError, load_model, parse_kwargs, parse_shape, require
from .analyze import _model_spec, _say


def run_describe(args) -> None:
    require("pycx describe", "torch")
    require("pycx describe", "pandas")
    shape = parse_shape(args.input_shape)
    spec = _model_spec(args.model)
    model = load_model(spec, parse_kwargs(args.kwargs))
    import torch

    import pycx

    example = torch.zeros((args.batch,) + tuple(shape))
    if args.integer_input:
        example = example.long()
    try:
        df = pycx.describe(model, example)
    except (ValueError, TypeError) as exc:
        raise UserError(f"--model: {spec} cannot be described on an input of shape "
                        f"{tuple(example.shape)}: {str(exc).splitlines()[0]}") from exc
    import pandas as pd

    with pd.option_context("display.max_rows", None, "display.width", 200,
                           "display.max_colwidth", 60):
        print(df.to_string(index=False))
    captured = int(df["captured"].sum())
    print(f"{captured} of {len(df)} rows captured ({spec}, input {tuple(example.shape)})")
    if args.out is not None:
        from .._io import atomic_path

        out = Path(args.out)
        with atomic_path(out, suffix=".csv.tmp") as tmp:
            df.to_csv(tmp, index=False)
        _say(args, f"wrote {out}")
