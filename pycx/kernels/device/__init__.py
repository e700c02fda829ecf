"""Device adapters: the GPU side of each kernel operation, one module per operation (the same
names as `pycx/kernels/*.py`, `cuda/*.cu` and `csrc/*.cpp`), plus `_array`, the shared
description of a CUDA torch tensor or cupy array, allocation with the input's own library and
the caller's stream.

Called only by `pycx.kernels.<op>` after it has validated its arguments. May import: numpy, the
base layer; torch and cupy lazily. Returns raw device arrays (the op wraps them).
"""
