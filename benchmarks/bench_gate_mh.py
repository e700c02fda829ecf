"""The gate sampler's fused CPU step (`pycx.kernels.gate_mh`, through
`EBMStack.sample(backend="native")`) against the same chain as torch ops
(`backend="torch"`): 5 steps on the complexity loss's default workload, four 128-unit layers'
EBMs (width 64) with 64 chains each. Both evaluate f and its gradient with the same torch
products; the kernel replaces the ~25 elementwise passes and the per-unit uniform draws of
each step. Goal: at least 1.5x."""
import pytest

torch = pytest.importorskip("torch")

from pycx.train.ebm import EBMStack, GateEBM  # noqa: E402

L, N, D, HIDDEN, STEPS = 4, 64, 128, 64, 5
GROUP = f"gate sampler {STEPS} steps {L}x{N}x{D}"


def make_stack():
    torch.manual_seed(0)
    ebms = [GateEBM((D,), hidden=HIDDEN) for _ in range(L)]
    stack = EBMStack(ebms)
    bits = (torch.rand(L, N, D) < 0.4).float()
    stack.update_prior(bits)
    return stack, bits, stack.weights(detach=True)


@pytest.mark.benchmark(group=GROUP)
def test_sampler_torch_ops(benchmark):
    benchmark.extra_info["role"] = "baseline"
    stack, bits, w = make_stack()
    benchmark.pedantic(lambda: stack.sample(bits, [0.2] * L, steps=STEPS, weights=w,
                                            backend="torch"), rounds=30, iterations=5,
                       warmup_rounds=2)


@pytest.mark.benchmark(group=GROUP)
def test_sampler_fused_kernel(benchmark):
    benchmark.extra_info.update(role="pycx", goal=1.5)
    stack, bits, w = make_stack()
    benchmark.pedantic(lambda: stack.sample(bits, [0.2] * L, steps=STEPS, weights=w,
                                            backend="native"), rounds=30, iterations=5,
                       warmup_rounds=2)
