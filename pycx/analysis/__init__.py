"""High-level analysis: `analyze` (every metric group on every captured layer), the `Report`
table (`table`), `Tracker` (analysis over training), the k-means baseline (`kmeans`) and the
architecture-only layer algebra (`layer_algebra`).

May import: `pycx.gates`, `pycx.estimators`, `pycx.kernels`, `pycx.reference`, the base layer.
Never `pycx.report` or `pycx.cli`.
"""
