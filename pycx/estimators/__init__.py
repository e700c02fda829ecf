"""Entropy and dimension estimators on arrays of gate states (docs/definitions.md §2-5).

Each public function lives in its own module and is exported lazily from ``pycx`` (so that
``import pycx`` stays cheap); heavy dependencies (xgboost, tqdm) are imported inside the
functions that need them. Results are small dataclasses with ``.to_dict()`` that carry the
settings which produced them.
"""
