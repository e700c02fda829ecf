"""Array-level kernels: one module per operation (`pack_bits`, `kde_sums`, `state_counts`,
`covariance`, `gate_mh`, `boost_fit`) that validates its arguments once and dispatches to the compiled CPU kernel
(`pycx._cpu`) or, for GPU arrays, to that operation's device adapter in `pycx.kernels.device`.
`packed` holds the `PackedBits` container the operations share.

May import: numpy and the base layer (`pycx._validate`, `pycx._build`, `pycx._cpu`). Torch and
cupy only inside the device adapters, lazily.
"""
