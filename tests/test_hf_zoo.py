"""Hugging Face families from tiny configs (random weights, no download): each captures,
describes and analyses with its gates on the hidden-unit axis; mixture-of-experts token rows
are never taken as samples. Bits are checked against a plain hook on the activation modules."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
T = pytest.importorskip("transformers")
pytest.importorskip("pandas")

import pycx  # noqa: E402

pytestmark = pytest.mark.slow

SMALL = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
             intermediate_size=64, max_position_embeddings=64)
SEQ2SEQ = dict(vocab_size=100, d_model=32, encoder_layers=2, decoder_layers=2,
               encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
               decoder_ffn_dim=64, max_position_embeddings=64)
FAMILIES = {
    "gpt2": lambda: T.GPT2Model(T.GPT2Config(vocab_size=100, n_embd=32, n_layer=2, n_head=2,
                                             n_positions=64, bos_token_id=1, eos_token_id=2)),
    "llama": lambda: T.LlamaModel(T.LlamaConfig(**SMALL, num_key_value_heads=2)),
    "mistral": lambda: T.MistralModel(T.MistralConfig(**SMALL, num_key_value_heads=2)),
    "qwen2": lambda: T.Qwen2Model(T.Qwen2Config(**SMALL, num_key_value_heads=2)),
    "gemma": lambda: T.GemmaModel(T.GemmaConfig(**SMALL, num_key_value_heads=2, head_dim=16)),
    "phi": lambda: T.PhiModel(T.PhiConfig(**SMALL)),
    "bert": lambda: T.BertModel(T.BertConfig(**SMALL)),
    "roberta": lambda: T.RobertaModel(T.RobertaConfig(**dict(SMALL, max_position_embeddings=70))),
    "t5": lambda: T.T5Model(T.T5Config(vocab_size=100, d_model=32, d_kv=16, d_ff=64, num_layers=2,
                                       num_heads=2, decoder_start_token_id=0)),
    "bart": lambda: T.BartModel(T.BartConfig(**SEQ2SEQ)),
    "vit": lambda: T.ViTModel(T.ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                          intermediate_size=64, image_size=32, patch_size=8)),
    "whisper": lambda: T.WhisperModel(T.WhisperConfig(
        vocab_size=100, pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
        d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=16,
        max_source_positions=16, max_target_positions=16)),
    "wav2vec2": lambda: T.Wav2Vec2Model(T.Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        conv_dim=(16, 16), conv_stride=(5, 2), conv_kernel=(10, 3), num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2)),
}
MOE = {
    "mixtral": lambda: T.MixtralModel(T.MixtralConfig(**SMALL, num_key_value_heads=2,
                                                      num_local_experts=4, num_experts_per_tok=2)),
    "qwen2_moe": lambda: T.Qwen2MoeModel(T.Qwen2MoeConfig(
        **SMALL, num_key_value_heads=2, num_experts=4, num_experts_per_tok=2,
        moe_intermediate_size=32, shared_expert_intermediate_size=48)),
}
N = 6


def _batch(name):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 100, (N, 12), generator=g)
    mask = torch.ones(N, 12, dtype=torch.long)
    mask[1, 8:] = 0
    mask[3, 5:] = 0
    labels = torch.arange(N) % 2
    if name in ("t5", "bart"):
        return {"input_ids": ids, "attention_mask": mask, "decoder_input_ids": ids, "labels": labels}
    if name == "vit":
        return {"pixel_values": torch.randn(N, 3, 32, 32, generator=g), "labels": labels}
    if name == "whisper":
        return {"input_features": torch.randn(N, 16, 32, generator=g),
                "decoder_input_ids": ids[:, :5], "labels": labels}
    if name == "wav2vec2":
        return {"input_values": torch.randn(N, 400, generator=g), "labels": labels}
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _activation_inputs(model, batch):
    """{module path: (input, expected unit axis)} of every activation module (an nn activation
    or a module of ``transformers.activations``), read by a forward pre-hook; the expected axis
    comes from the leaf module that ran just before it: a linear layer or a layer norm puts the
    units last, a convolution or a group norm on axis 1 (None: not known)."""
    seen, handles, last = {}, [], [None]

    def pre(mod, args, path):
        producer = last[0]
        axis = (-1 if isinstance(producer, (torch.nn.Linear, torch.nn.LayerNorm)) or
                type(producer).__name__ == "Conv1D" else
                1 if isinstance(producer, (torch.nn.Conv1d, torch.nn.GroupNorm)) else None)
        seen.setdefault(path, (args[0].detach().clone(), axis))

    def leaf(mod, args, out):
        last[0] = mod

    for path, m in model.named_modules():
        if isinstance(m, (torch.nn.GELU, torch.nn.SiLU, torch.nn.ReLU)) or \
                type(m).__module__ == "transformers.activations":
            handles.append(m.register_forward_pre_hook(lambda mod, a, p=path: pre(mod, a, p)))
        elif not list(m.children()):
            handles.append(m.register_forward_hook(leaf))
    try:
        with torch.no_grad():
            model(**{k: v for k, v in batch.items() if k != "labels"})
    finally:
        for h in handles:
            h.remove()
    return seen


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family(name):
    torch.manual_seed(0)
    model = FAMILIES[name]().eval()
    batch = _batch(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cap = pycx.capture(model, [batch], progress=False)
        df = pycx.describe(model, batch)
        report = pycx.analyze(cap, metrics=["relevance", "kde"], progress=False)
    assert len(cap) > 0 and cap.n_samples == N
    assert (df.captured | (df.reason.str.len() > 0)).all()
    assert len(report.rows) == len(cap)
    pre = _activation_inputs(model, batch)
    checked = 0
    for layer, (x, axis) in pre.items():
        if layer not in cap.layers or x.dim() != 3:
            continue
        rec = cap[layer]
        if axis is not None:  # (a producer these hooks cannot name: the bits are still checked)
            assert rec.unit_axis == axis, (layer, rec.unit_axis_source)
        bits = (x > 0).numpy()
        if rec.unit_axis == 1:                                              # (N, C, L): as it is
            np.testing.assert_array_equal(rec.per_sample.unpack(), bits.reshape(N, -1))
            checked += 1
            continue
        if rec.valid is not None:                                  # (N, T, C): tokens

            bits &= rec.valid[:, :, None]
        np.testing.assert_array_equal(rec.per_sample.unpack(),
                                      bits.transpose(0, 2, 1).reshape(N, -1), err_msg=layer)
        checked += 1
    assert checked > 0


def test_mixture_of_experts_modules_are_one_layer_of_samples():
    """Routed expert rows are never samples: each experts module is one gating layer over the
    tokens it received, (E * I, T) per sample (tests/test_capture_experts.py checks the bits)."""
    torch.manual_seed(0)
    model = MOE["mixtral"]().eval()
    batch = _batch("mixtral")
    df = pycx.describe(model, batch)
    experts = df[df.layer.str.endswith("mlp.experts")]
    assert len(experts) == 2 and experts.captured.all()
    assert not df.layer.str.contains("experts.act_fn").any()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cap = pycx.capture(model, [batch], progress=False)
    assert list(cap.names) == list(experts.layer)
    rec = cap[cap.names[0]]
    assert rec.n_samples == N and rec.unit_axis_source.endswith("12 rows per sample")


def test_shared_expert_token_rows_are_mapped_back_to_samples():
    """Qwen2-MoE's shared expert runs on the tokens flattened to (N*T, C): sample-major rows of
    the batch, mapped back to (C, T) per sample with the padding mask; the routed experts are
    one layer of their own (never their act_fn's rows)."""
    torch.manual_seed(0)
    model = MOE["qwen2_moe"]().eval()
    batch = _batch("qwen2_moe")
    name = "layers.0.mlp.shared_expert.act_fn"
    pre = {}
    hook = model.get_submodule(name).register_forward_pre_hook(
        lambda m, a: pre.setdefault("x", a[0].detach().clone()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cap = pycx.capture(model, [batch], progress=False)
    hook.remove()
    rec = cap[name]
    assert rec.shape == (48, 12) and rec.unit_axis_source.endswith("12 rows per sample")
    assert rec.valid is not None and not rec.valid[1, 8:].any()
    bits = (pre["x"].reshape(N, 12, 48) > 0).numpy() & rec.valid[:, :, None]
    np.testing.assert_array_equal(rec.per_sample.unpack(), bits.transpose(0, 2, 1).reshape(N, -1))
    assert not any("experts.act_fn" in n for n in cap.names)


def test_language_model_batches_with_token_labels():
    """A causal LM's usual batch has labels = input_ids, one per token: not class labels. The
    capture leaves them out with a warning; analyze then treats the run as unlabelled, the
    same for every metric spec."""
    torch.manual_seed(0)
    model = T.GPT2LMHeadModel(T.GPT2Config(vocab_size=100, n_embd=32, n_layer=2, n_head=2,
                                           n_positions=64, bos_token_id=1, eos_token_id=2)).eval()
    ids = torch.randint(3, 100, (N, 12))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}
    with pytest.warns(UserWarning, match=r"shape \(6, 12\): one per token"):
        cap = pycx.capture(model, [batch], progress=False)
    assert cap.labels is None and cap.n_samples == N
    for metrics in (["relevance"], "all"):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            rep = pycx.analyze(model, [batch], metrics=metrics, estimators="plugin",
                               kmeans=False, progress=False)
        messages = " ".join(str(w.message) for w in seen)
        assert "one per token" in messages and "no labels" in messages
        assert "classification_error" in rep.settings["skipped"]
        assert all(np.isnan(r["classification_error"]) for r in rep.rows)


def _weight_modules(model):
    return sum(1 for m in model.modules()
               if isinstance(m, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d))
               or type(m).__name__ == "Conv1D")


@pytest.mark.parametrize("name", sorted(FAMILIES) + ["mixtral"])
def test_layer_algebra_from_an_example_batch(name):
    """Hugging Face models are read with torch.export on an example batch (torch.fx cannot
    trace them); every op with weights is a layer, none is an unknown identity."""
    from pycx.analysis.layer_algebra import UnknownLayerWarning

    torch.manual_seed(0)
    model = (FAMILIES.get(name) or MOE[name])().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownLayerWarning)
        la = pycx.layer_algebra(model, example=_batch(name))
    weighted = [r for r in la.layers if r["kind"] == "layer" and any(
        op in r["op"] for op in ("linear", "addmm", "conv", "grouped_mm"))]
    if name not in MOE:  # experts hold their weights as one tensor, not as modules
        assert len(weighted) == _weight_modules(model), [r["op"] for r in weighted]
    assert any("scaled_dot_product_attention" in r["op"] for r in la.layers)
    assert np.isfinite(la.gcip_log10) and np.isfinite(la.gcc_log10)


def test_layer_algebra_failure_names_both_causes():
    class Branchy(torch.nn.Module):
        def forward(self, x):
            if x.sum() > 0:           # data-dependent: neither tracer can follow it
                return x.relu()
            return x

    with pytest.raises(RuntimeError, match=r"torch\.fx failed \(TraceError.*torch\.export .*failed"):
        pycx.layer_algebra(Branchy(), example=torch.randn(2, 3))
    with pytest.raises(TypeError, match="exactly one of 'input_shape' .* and 'example'"):
        pycx.layer_algebra(Branchy(), (1, 3), example=torch.randn(2, 3))
