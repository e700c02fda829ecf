"""Mixture-of-experts layers: one gating layer per experts module, its tokens mapped back to
samples, the gates of unrouted experts off (docs/definitions.md §1, "Routed experts"). Bits
are checked against an independent per-token loop over the router's choices."""
import numpy as np
import pytest
import torch
from torch import nn

import pycx


class Experts(nn.Module):
    """The expert-weights layout of transformers (3-D weights, forward(hidden_states,
    top_k_index, top_k_weights)), written out: a loop over tokens."""

    def __init__(self, n_experts, hidden, units, *, has_gate=True, transposed=False,
                 bias=False, act=None):
        super().__init__()
        self.num_experts, self.has_gate, self.is_transposed, self.has_bias = (
            n_experts, has_gate, transposed, bias)
        out = 2 * units if has_gate else units
        shape = (n_experts, hidden, out) if transposed else (n_experts, out, hidden)
        name = "gate_up_proj" if has_gate else "up_proj"
        setattr(self, name, nn.Parameter(torch.randn(*shape) / hidden ** 0.5))
        if bias:
            setattr(self, name + "_bias", nn.Parameter(torch.randn(n_experts, out)))
        self.down = nn.Parameter(torch.randn(n_experts, hidden, units) / units ** 0.5)
        self.act_fn = act or nn.SiLU()
        self.units = units

    def project(self, e, h):
        w = getattr(self, "gate_up_proj" if self.has_gate else "up_proj")[e]
        p = h @ (w if self.is_transposed else w.t())
        if self.has_bias:
            p = p + getattr(self, ("gate_up_proj" if self.has_gate else "up_proj") + "_bias")[e]
        return p

    def forward(self, hidden_states, top_k_index, top_k_weights):
        out = torch.zeros_like(hidden_states)
        for t in range(hidden_states.shape[0]):
            for j in range(top_k_index.shape[1]):
                e = int(top_k_index[t, j])
                p = self.project(e, hidden_states[t])
                a = (self.act_fn(p[:self.units]) * p[self.units:]) if self.has_gate else \
                    self.act_fn(p)
                out[t] += top_k_weights[t, j] * (self.down[e] @ a)
        return out


class MoE(nn.Module):
    def __init__(self, experts, hidden=8, k=2):
        super().__init__()
        self.embed = nn.Linear(4, hidden)
        self.router = nn.Linear(hidden, experts.num_experts)
        self.experts, self.k = experts, k

    def forward(self, x):  # x: (N, T, 4)
        h = self.embed(x)
        flat = h.reshape(-1, h.shape[-1])
        w, idx = self.router(flat).softmax(-1).topk(self.k, dim=-1)
        return self.experts(flat, idx, w).reshape(h.shape)


def expected_bits(model, x):
    """(N, E * I, T) gate bits by a per-token loop: pre-activation > 0 at the chosen experts."""
    ex = model.experts
    with torch.no_grad():
        h = model.embed(x)
        n, t, _ = h.shape
        flat = h.reshape(-1, h.shape[-1])
        _, idx = model.router(flat).softmax(-1).topk(model.k, dim=-1)
        bits = np.zeros((n * t, ex.num_experts, ex.units), dtype=bool)
        for row in range(n * t):
            for e in idx[row].tolist():
                bits[row, e] = (ex.project(e, flat[row])[:ex.units] > 0).numpy()
    return bits.reshape(n, t, -1).transpose(0, 2, 1)


@pytest.mark.parametrize("options", [{}, {"has_gate": False}, {"transposed": True, "bias": True},
                                     {"act": nn.ReLU()}])
def test_experts_gate_bits_match_a_per_token_loop(options):
    torch.manual_seed(0)
    model = MoE(Experts(4, 8, 6, **options)).eval()
    x = torch.randn(5, 3, 4)
    cap = pycx.capture(model, [x[:2], x[2:]], progress=False)
    assert cap.names == ["experts"]
    rec = cap["experts"]
    assert rec.shape == (4 * 6, 3) and rec.n_samples == 5
    want = expected_bits(model, x)
    got = rec.per_sample.unpack().reshape(5, 4 * 6, 3)
    assert np.array_equal(got, want)
    # unrouted experts are off: each token has at most k of E experts with any bit set
    per_expert = got.reshape(5, 4, 6, 3).any(axis=2)
    assert per_expert.sum(axis=1).max() <= 2


def test_experts_with_an_unreadable_gate_are_skipped_with_the_reason():
    torch.manual_seed(0)
    model = MoE(Experts(4, 8, 6, act=nn.Tanh())).eval()
    model.extra = nn.ReLU()

    def forward(x):
        return model.extra(MoE.forward(model, x))
    model.forward = forward
    df = pycx.describe(model, torch.randn(2, 3, 4))
    skipped = df[~df.captured]
    assert any("not a ReLU-family gate" in r for r in skipped.reason)
    assert list(df[df.captured].layer) == ["extra"]


def test_mixtral_captures_and_analyses_with_labels_per_sample():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.MixtralConfig(vocab_size=50, hidden_size=16, intermediate_size=12,
                                     num_hidden_layers=2, num_attention_heads=2,
                                     num_key_value_heads=1, num_local_experts=4,
                                     num_experts_per_tok=2)
    model = transformers.MixtralForCausalLM(cfg).eval()
    x = torch.randint(0, 50, (8, 6))
    reference = None
    # the experts implementation (a loop, batched or grouped matmuls) does not change the bits
    for impl in ("eager", "batched_mm", "grouped_mm"):
        model.config._experts_implementation = impl
        cap = pycx.capture(model, [x], progress=False)
        assert cap.names == ["model.layers.0.mlp.experts", "model.layers.1.mlp.experts"]
        bits = cap["model.layers.0.mlp.experts"].per_sample.unpack()
        assert bits.shape[0] == 8
        if reference is None:
            reference = bits
        assert np.array_equal(bits, reference), impl
    report = pycx.analyze(model, [(x, torch.arange(8) % 2)], metrics="relevance",
                          progress=False)
    assert sorted(r["layer"] for r in report.rows) == cap.names
    assert all(r["n_samples"] == 8 for r in report.rows if "n_samples" in r)


def test_not_captured_ops_are_kept_in_the_capture_its_file_and_the_report(tmp_path):
    """What the capture's warning summarises is kept: Capture.not_captured, saved and
    reopened, analyze's settings and the report's "Not captured" table."""
    torch.manual_seed(0)
    model = MoE(Experts(4, 8, 6, act=nn.Tanh())).eval()
    model.extra = nn.ReLU()

    def forward(x):
        return model.extra(MoE.forward(model, x))
    model.forward = forward
    x = torch.randn(6, 3, 4)
    with pytest.warns(UserWarning, match="not captured: Experts x1"):
        cap = pycx.capture(model, [x], progress=False)
    want = [{"layer": "experts.Experts", "op": "Experts",
             "reason": "routed experts whose activation Tanh is not a ReLU-family gate"}]
    assert cap.not_captured == want
    cap.save(tmp_path / "cap.npz")
    assert pycx.Capture.load(tmp_path / "cap.npz").not_captured == want
    rep = pycx.analyze(cap, metrics="relevance", progress=False)
    assert rep.settings["not_captured"] == want
    pycx.write_report(rep, tmp_path / "report")
    page = (tmp_path / "report" / "report.html").read_text()
    assert "<h2>Not captured</h2>" in page and "not a ReLU-family gate" in page
