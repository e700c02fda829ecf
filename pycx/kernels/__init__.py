"""Array-level kernels: validate in Python, then run the compiled CPU (or CUDA) kernel."""
