"""The chain rule's classifiers: `pycx.xgb_entropy(backend="native")` (pycx.kernels.boost_fit)
against the XGBoost backend, one thread each, on gate rows shaped like a 64-channel ResNet
layer (20,000 per-patch rows: noisy copies of 400 prototypes, so that the distinct points per
fit grow with the prefix as on real layers). Same estimate (asserted). Goal: at least 2x
(measured on a 64-unit ResNet-56 layer at 100,000 rows: 3x; on 16-unit layers, where
XGBoost's per-round overhead dominates, 2.5-5.5x)."""
import numpy as np
import pytest

pytest.importorskip("xgboost")

import pycx  # noqa: E402

GROUP = "xgb chain rule 20000 rows x 64 units, 50 trees"


def rows():
    rng = np.random.default_rng(0)
    protos = rng.random((400, 64)) < rng.random(64)
    return pycx.pack_bits(protos[rng.integers(0, 400, 20000)] ^ (rng.random((20000, 64)) < 0.03))


@pytest.mark.benchmark(group=GROUP)
def test_chain_rule_xgboost(benchmark):
    benchmark.extra_info["role"] = "baseline"
    z = rows()
    benchmark.pedantic(lambda: pycx.xgb_entropy(z, n_estimators=50, threads=1), rounds=3,
                       iterations=1, warmup_rounds=0)


@pytest.mark.benchmark(group=GROUP)
def test_chain_rule_native(benchmark):
    benchmark.extra_info.update(role="pycx", goal=2.0)
    z = rows()
    native = benchmark.pedantic(lambda: pycx.xgb_entropy(z, n_estimators=50, backend="native"),
                                rounds=3, iterations=1, warmup_rounds=0)
    reference = pycx.xgb_entropy(z, n_estimators=50, threads=1)
    # The backends' trees differ only in the ~1% of fits with a near-tied split: on
    # ResNet-56's 55 layers the estimates differed by at most 6e-6 relative (48 identical);
    # 1e-4 leaves room without hiding a wrong fit, which moves it by 1e-2 or more.
    assert abs(native.entropy - reference.entropy) <= 1e-4 * reference.entropy
