"""Capture of gate states from PyTorch models (docs/definitions.md §1).

- `ops`: the table of gating ops (which torch functions and modules are gates, and how each
  gate is read);
- `recorder`: `Recorder` (the context manager that watches a forward pass) and `capture`
  (the one-call form over a dataset);
- `capture`: `Capture` and `LayerRecord`, the captured result, with save/load (numpy only);
- `store`: bit counts, per-patch row views, streaming moments.

Named `gates` rather than `capture` so that the function `pycx.capture` is never shadowed by a
submodule. May import: `pycx.kernels`, the base layer, torch (recorder and ops only).
"""
