"""Small hand-made data shaped like `pycx.Report` (rows / network / curves / settings), for
testing the report's figures independently of the analysis pipeline."""
from types import SimpleNamespace

import numpy as np

from pycx.reference.relevance import max_relevance_curve


def report_like(model="mlp", epochs=(0, 1, 2), n_layers=4, seed=0, groups=("janik", "relevance", "kde"),
                blocks=False):
    rng = np.random.default_rng(seed)
    m = 256
    rows, network = [], []
    for e in epochs:
        layer_rows = []
        for d in range(n_layers):
            units = 32 // (d + 1)
            row = {"model": model, "epoch": e, "layer": f"layers.{2 * d + 1}", "kind": "relu",
                   "depth": d, "block": f"block{d // 2}" if blocks else "", "shape": str(units),
                   "units": units, "rows_sample": m, "rows_patch": m}
            if "janik" in groups:
                c = float(units * (0.3 + 0.1 * rng.random()) * (1 + 0.2 * e))
                row.update(linearity=0.4 + 0.1 * rng.random(), unit_entropy_mean=0.8,
                           complexity=c, complexity_per_neuron=c / units, ntc=0.2 + 0.1 * d / n_layers,
                           effective_dimension=float(units * (0.5 - 0.05 * d) + e),
                           complexity_estimator="xgb")
            if "relevance" in groups:
                hs = 0.9 - 0.2 * d + 0.02 * e
                row.update(h_s=hs * 8, h_k=(0.2 + 0.1 * d) * 8, h_s_norm=hs, h_k_norm=0.2 + 0.1 * d,
                           beta_mle=0.5 + 0.4 * d, beta_ls=0.6 + 0.4 * d, n_states=int(200 / (d + 1)),
                           classification_error=0.5 - 0.1 * d)
            if "kde" in groups:
                row.update(kde_h=7.0 - d + 0.1 * e, kde_h_given_y=5.0 - d, kde_i_xy=2.0 + 0.05 * e,
                           kde_tc=3.0 + d, kde_s2=0.3, kde_alpha=0.01, kde_h_concat=7.5 - d)
            layer_rows.append(row)
        rows.extend(layer_rows)
        network.append({"model": model, "epoch": e,
                        "network_complexity": sum(r.get("complexity", 0) for r in layer_rows),
                        "critical_layer": "layers.3", "zipf_layer": "layers.5",
                        "beta_across_layers": 1.1, "block_avg": {}})
    curve = max_relevance_curve(m)
    k = np.array([1, 2, 3, 5, 8])
    curves = {
        "max_relevance": {"M": m, "h_s": list(curve.h_s), "h_k": list(curve.h_k),
                          "h_s_norm": list(curve.h_s_normalized), "h_k_norm": list(curve.h_k_normalized)},
        "kmeans": {"model": model, "epoch": epochs[-1], "k": [4, 16, 64],
                   "h_s": [2.0, 3.9, 5.8], "h_k": [1.0, 1.9, 2.5],
                   "h_s_norm": [0.25, 0.49, 0.72], "h_k_norm": [0.12, 0.24, 0.31]},
        "degeneracy": {f"layers.{2 * d + 1}": {"k": k.tolist(),
                                                "m_k": (100 * k ** -(1.5 + 0.4 * d)).tolist(),
                                                "beta_mle": 0.5 + 0.4 * d} for d in range(n_layers)},
    }
    return SimpleNamespace(rows=rows, network=network, curves=curves,
                           settings={"seed": seed, "complexity_estimator": "xgb"})
