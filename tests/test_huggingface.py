"""Hugging Face `transformers` models: capture and analysis of a tiny BERT built from a config
(no download). Ground truth: the GELU inputs read by a plain torch hook in a separate forward
pass, thresholded, masked and transposed in numpy."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import pycx  # noqa: E402
from pycx.gates.batches import batch_input  # noqa: E402
from pycx.gates.store import per_patch_rows, subsample_rows  # noqa: E402
from pycx.reference.covariance import covariance as ref_covariance  # noqa: E402

N, T, C, HIDDEN = 10, 12, 64, 32
ACT = ["encoder.layer.0.intermediate.intermediate_act_fn",
       "encoder.layer.1.intermediate.intermediate_act_fn"]


def tiny_config(act="gelu"):
    return transformers.BertConfig(hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=2,
                                   intermediate_size=C, vocab_size=100, hidden_act=act,
                                   max_position_embeddings=64)


@pytest.fixture(scope="module")
def bert():
    torch.manual_seed(0)
    return transformers.BertModel(tiny_config()).eval()


def token_batch(seed, n=N, pad=True, t=T):
    """input_ids (n, t) and an attention mask with sentences of lengths 3..t (pad=True)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 100, (n, t), generator=g)
    mask = torch.ones(n, t, dtype=torch.long)
    if pad:
        lengths = torch.randint(3, t + 1, (n,), generator=g)
        mask = (torch.arange(t)[None, :] < lengths[:, None]).long()
        ids = ids * mask  # token 0 ([PAD]) at padded positions
    return ids, mask


def act_inputs(model, prefix="", **batch):
    """The inputs (N, T, C) and outputs of every intermediate activation, by a plain hook."""
    seen = {}
    handles = []
    for name in ACT:
        module = model.get_submodule(prefix + name)

        def hook(mod, args, out, name=name):
            seen[name] = (args[0].detach().clone(), out.detach().clone())
        handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(**batch)
    finally:
        for h in handles:
            h.remove()
    return seen


def reference_rows(pre, mask):
    """(per-sample rows (N, C*T) unit-major, per-patch rows of the real tokens (M, C))."""
    valid = mask.numpy().astype(bool)
    bits = (pre.numpy() > 0) & valid[:, :, None]                      # (N, T, C)
    per_sample = bits.transpose(0, 2, 1).reshape(len(bits), -1)       # bit c*T + t
    per_patch = bits.reshape(-1, bits.shape[2])[valid.reshape(-1)]    # rows n*T + t, tokens only
    return per_sample.astype(np.uint8), per_patch.astype(np.uint8)


def test_bert_gelu_gates_by_module_path_tokens_as_positions(bert):
    (ids1, m1), (ids2, m2) = token_batch(1), token_batch(2)
    data = [{"input_ids": ids1, "attention_mask": m1, "labels": torch.arange(N) % 3},
            {"input_ids": ids2, "attention_mask": m2, "labels": torch.arange(N) % 2}]
    cap = pycx.capture(bert, data, progress=False, covariance_positions=None)
    assert cap.names == ACT + ["pooler.activation"]
    np.testing.assert_array_equal(cap.labels, np.r_[np.arange(N) % 3, np.arange(N) % 2])
    refs = [act_inputs(bert, input_ids=i, attention_mask=m) for i, m in ((ids1, m1), (ids2, m2))]
    mask = torch.cat([m1, m2])
    for name in ACT:
        rec = cap[name]
        assert rec.kind == "gelu" and rec.channels_last and rec.shape == (C, T)
        assert rec.module == name  # an activation module: named after its own path
        pre = torch.cat([r[name][0] for r in refs])
        out = torch.cat([r[name][1] for r in refs])
        sample, patch = reference_rows(pre, mask)
        np.testing.assert_array_equal(rec.per_sample.unpack(), sample)
        np.testing.assert_array_equal(rec.per_patch.unpack(), patch)
        np.testing.assert_array_equal(rec.valid, mask.numpy().astype(bool))
        assert rec.n_patch_rows_total == int(mask.sum()) < 2 * N * T
        # covariance of the GELU outputs over the real tokens only
        rows = out.reshape(-1, C).numpy()[mask.numpy().reshape(-1).astype(bool)]
        _, ref_cov = ref_covariance(rows.astype(np.float64))
        assert rec.covariance.count == len(rows)
        # float32 outputs, each batch centred on its float32 mean, float64 product and merge
        np.testing.assert_allclose(rec.covariance.covariance(), ref_cov, rtol=1e-5, atol=1e-8)
    pooler = cap["pooler.activation"]
    assert pooler.kind == "tanh" and pooler.shape == (HIDDEN,) and pooler.valid is None


def test_covariance_subsample_among_tokens(bert):
    """Sequences longer than covariance_positions: the keyed Bernoulli sample of (sample,
    position) rows, restricted to the real tokens, whatever the batching."""
    from pycx.gates.store import covariance_rows
    ids, mask = token_batch(12, n=9, t=40)
    cap = pycx.capture(bert, [{"input_ids": ids[:4], "attention_mask": mask[:4]},
                              {"input_ids": ids[4:], "attention_mask": mask[4:]}],
                       covariance_positions=5, progress=False)
    out = act_inputs(bert, input_ids=ids, attention_mask=mask)[ACT[0]][1].reshape(-1, C).numpy()
    picked = covariance_rows(0, 0, 9, 40, 5 / 40)
    picked = picked[mask.numpy().reshape(-1)[picked] == 1]
    _, ref_cov = ref_covariance(out[picked].astype(np.float64))
    rec = cap[ACT[0]]
    assert rec.covariance.count == len(picked) and 0 < len(picked) < int(mask.sum())
    # float32 outputs, each batch centred on its float32 mean, float64 product and merge
    np.testing.assert_allclose(rec.covariance.covariance(), ref_cov, rtol=1e-5, atol=1e-8)


def test_padding_does_not_change_a_sentence_state(bert):
    """The same sentences padded with different (masked) tokens give the same per-sample rows:
    padded gates are 0, real tokens do not attend to padding."""
    ids, mask = token_batch(3)
    other = torch.where(mask.bool(), ids, torch.randint(1, 100, ids.shape))
    caps = [pycx.capture(bert, [{"input_ids": i, "attention_mask": mask}], progress=False)
            for i in (ids, other)]
    assert not torch.equal(ids, other)
    for name in ACT:
        assert caps[0][name].per_sample == caps[1][name].per_sample
        assert caps[0][name].per_patch == caps[1][name].per_patch
    # without the mask the padded positions' gates are kept, and differ
    unmasked = [pycx.capture(bert, [{"input_ids": i, "attention_mask": mask}], progress=False,
                             mask_padding=False) for i in (ids, other)]
    assert unmasked[0][ACT[0]].valid is None
    assert unmasked[0][ACT[0]].per_sample != unmasked[1][ACT[0]].per_sample


def test_integer_tokens_batch_encoding_positional_mask_and_recorder(bert):
    ids, mask = token_batch(4)
    ref = act_inputs(bert, input_ids=ids, attention_mask=mask)
    sample, _ = reference_rows(ref[ACT[0]][0], mask)
    # transformers' BatchEncoding (no tokenizer needed) with its labels
    enc = transformers.BatchEncoding({"input_ids": ids, "attention_mask": mask,
                                      "labels": np.arange(N) % 2})
    cap = pycx.capture(bert, [enc], progress=False)
    np.testing.assert_array_equal(cap[ACT[0]].per_sample.unpack(), sample)
    np.testing.assert_array_equal(cap.labels, np.arange(N) % 2)
    # the user's own loop, the mask given positionally (BertModel.forward(input_ids, attention_mask))
    with pycx.Recorder(bert) as rec:
        with torch.no_grad():
            bert(ids[:6], mask[:6])
            bert(input_ids=ids[6:], attention_mask=mask[6:])
    assert "2 batches" in repr(rec)
    assert rec.result()[ACT[0]].per_sample == cap[ACT[0]].per_sample
    # plain integer token ids (no mask): every position is a token
    plain = pycx.capture(bert, [ids[:4], ids[4:]], progress=False)
    ref_plain = act_inputs(bert, input_ids=ids)
    sample, patch = reference_rows(ref_plain[ACT[1]][0], torch.ones(N, T))
    np.testing.assert_array_equal(plain[ACT[1]].per_sample.unpack(), sample)
    assert plain[ACT[1]].valid is None and plain[ACT[1]].per_patch.n_rows == N * T
    np.testing.assert_array_equal(plain[ACT[1]].per_patch.unpack(), patch)


def test_patch_subsample_counts_tokens_and_save_load(bert, tmp_path):
    ids, mask = token_batch(5)
    batch = {"input_ids": ids, "attention_mask": mask}
    cap = pycx.capture(bert, [batch], patch_rows=25, seed=3, progress=False)
    _, patch = reference_rows(act_inputs(bert, **batch)[ACT[0]][0], mask)
    rec = cap[ACT[0]]
    # the subsample indexes the real-token rows (numbered in order, padding skipped)
    index = subsample_rows(len(patch), 25, 3)
    np.testing.assert_array_equal(rec.patch_index, index)
    np.testing.assert_array_equal(rec.per_patch.unpack(), patch[index])
    # the path the analysis takes: per_patch_rows of the per-sample rows
    np.testing.assert_array_equal(per_patch_rows(rec.per_sample, C, T, index).unpack(), patch[index])
    np.testing.assert_array_equal(rec.per_sample[[1, 4]].valid, mask.numpy()[[1, 4]].astype(bool))
    path = tmp_path / "bert.npz"
    cap.save(path)
    back = pycx.Capture.load(path)
    for a, b in zip(cap, back):
        assert (a.shape, a.channels_last, a.kind) == (b.shape, b.channels_last, b.kind)
        assert a.per_sample == b.per_sample and a.per_patch == b.per_patch
        assert (a.valid is None) == (b.valid is None)
    np.testing.assert_array_equal(back[ACT[1]].valid, rec.valid)


def test_analyze_bert_for_sequence_classification_end_to_end():
    torch.manual_seed(1)
    model = transformers.BertForSequenceClassification(tiny_config()).eval()
    data = []
    for seed in (6, 7, 8):
        ids, mask = token_batch(seed, n=16)
        data.append({"input_ids": ids, "attention_mask": mask, "labels": torch.arange(16) % 2})
    tokens = int(sum(b["attention_mask"].sum() for b in data))
    # The k-means baseline clusters the batches' input_ids (as floats, like integer tensors).
    report = pycx.analyze(model, data, progress=False, estimators="plugin")
    assert report.settings["kmeans"]["computed"]
    frame = report.to_pandas().set_index("layer")
    assert list(frame.index) == ["bert." + n for n in ACT] + ["bert.pooler.activation"]
    for name in ACT:
        row = frame.loc["bert." + name]
        assert row["kind"] == "gelu" and row["shape"] == f"{C}x{T}" and row["units"] == C
        assert row["rows_patch"] == tokens and row["rows_sample"] == 48
        for col in ("complexity", "linearity", "effective_dimension", "h_s", "h_k",
                    "classification_error", "kde_h", "kde_i_xy"):
            assert np.isfinite(row[col]), col
        assert 1.0 <= row["effective_dimension"] <= C
    assert frame.loc["bert.pooler.activation", "rows_patch"] == 48


def test_tanh_formula_gelu_is_one_gate_read_from_its_input():
    """gelu_new computes 0.5 x (1 + tanh(...)): the module is the gate (input > 0), its inner
    tanh is not a layer."""
    torch.manual_seed(2)
    model = transformers.BertModel(tiny_config("gelu_new")).eval()
    ids, mask = token_batch(9)
    cap = pycx.capture(model, [{"input_ids": ids, "attention_mask": mask}], progress=False)
    assert cap.names == ACT + ["pooler.activation"]
    assert [cap[n].kind for n in cap.names] == ["gelu", "gelu", "tanh"]
    sample, _ = reference_rows(act_inputs(model, input_ids=ids, attention_mask=mask)[ACT[1]][0], mask)
    np.testing.assert_array_equal(cap[ACT[1]].per_sample.unpack(), sample)


def test_channel_axis_option_on_a_plain_torch_model():
    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(5, 7)

        def forward(self, x):                   # (N, T, 5) -> (N, T, 7)
            return torch.nn.functional.relu(self.fc(x))

    torch.manual_seed(3)
    model = Block()
    x = torch.randn(6, 4, 5)
    with torch.no_grad():
        pre = model.fc(x).numpy()
    last = pycx.capture(model, [x], channel_axis=-1, progress=False)["relu"]
    assert last.shape == (7, 4) and last.channels_last
    np.testing.assert_array_equal(last.per_patch.unpack(), (pre.reshape(-1, 7) > 0))
    traced = pycx.capture(model, [x], progress=False)["relu"]  # auto: a linear layer's units
    assert traced.shape == (7, 4) and traced.unit_axis == -1
    assert traced.unit_axis_source == "traced:linear"
    np.testing.assert_array_equal(traced.per_patch.unpack(), (pre.reshape(-1, 7) > 0))
    first = pycx.capture(model, [x], channel_axis=1, progress=False)["relu"]  # forced: (N, C, L)
    assert first.shape == (4, 7) and not first.channels_last
    assert first.unit_axis_source == "channel_axis"
    np.testing.assert_array_equal(first.per_sample.unpack(), (pre.reshape(6, -1) > 0))


def test_clear_errors(bert):
    ids, mask = token_batch(10)
    batch = {"input_ids": ids, "attention_mask": mask}
    with pytest.raises(ValueError, match="max_length"):  # dynamic padding: T changes
        pycx.capture(bert, [batch, {"input_ids": ids[:, :8], "attention_mask": mask[:, :8]}],
                     progress=False)
    with pytest.raises(ValueError, match="pixel_covariance"):
        pycx.capture(bert, [batch], pixel_covariance=True, progress=False)
    empty = mask.clone()
    empty[2] = 0
    with pytest.raises(ValueError, match=r"without any token \(rows \[2\]"):
        pycx.capture(bert, [{"input_ids": ids, "attention_mask": empty}], progress=False)
    with pytest.raises(ValueError, match="channel_axis"):
        pycx.capture(bert, [batch], channel_axis=2, progress=False)
    with pytest.raises(ValueError, match="labels were given twice"):
        pycx.capture(bert, [(dict(batch, labels=np.zeros(N, int)), np.zeros(N, int))],
                     progress=False)
    with pytest.raises(ValueError, match="no batched tensor"):
        pycx.capture(bert, [{"output_hidden_states": True}], progress=False)
    # max_samples cuts every tensor of a keyword batch
    cut = pycx.capture(bert, [dict(batch, labels=np.arange(N))], max_samples=7, progress=False)
    assert cut.n_samples == 7 and cut[ACT[0]].valid.shape == (7, T)
    np.testing.assert_array_equal(cut.labels, np.arange(7))


def test_batch_input_of_every_batch_form():
    ids, mask = token_batch(11)
    assert batch_input({"attention_mask": mask, "input_ids": ids}) is ids
    assert batch_input(({"input_ids": ids}, [0] * N)) is ids
    assert batch_input((ids, [0] * N)) is ids
    assert batch_input({"attention_mask": mask}) is None


def test_encoder_mask_is_not_applied_to_the_decoder():
    """T5: the encoder's attention_mask covers the encoder's gates only; the decoder's tokens
    (here of the same length T) are another sequence and keep every gate."""
    config = transformers.T5Config(vocab_size=100, d_model=16, d_kv=8, d_ff=24, num_layers=1,
                                   num_decoder_layers=1, num_heads=2, feed_forward_proj="relu",
                                   decoder_start_token_id=0)
    torch.manual_seed(5)
    model = transformers.T5Model(config).eval()
    ids, mask = token_batch(6, n=4, t=7)
    dec = torch.randint(1, 100, (4, 7), generator=torch.Generator().manual_seed(7))
    batch = {"input_ids": ids, "attention_mask": mask, "decoder_input_ids": dec}
    pre = {}
    hooks = [model.get_submodule(f"{part}.block.0.layer.{i}.DenseReluDense.wi").register_forward_hook(
        lambda m, a, out, part=part: pre.__setitem__(part, out.detach().clone()))
        for part, i in (("encoder", 1), ("decoder", 2))]
    with torch.no_grad():
        model(**batch)
    for h in hooks:
        h.remove()
    cap = pycx.capture(model, [batch], progress=False)
    enc = cap["encoder.block.0.layer.1.DenseReluDense.act"]
    dec_rec = cap["decoder.block.0.layer.2.DenseReluDense.act"]
    assert enc.valid is not None and dec_rec.valid is None
    assert dec_rec.unit_axis == -1 and enc.unit_axis == -1
    np.testing.assert_array_equal(enc.per_sample.unpack(), reference_rows(pre["encoder"], mask)[0])
    full = torch.ones_like(mask)
    np.testing.assert_array_equal(dec_rec.per_sample.unpack(), reference_rows(pre["decoder"], full)[0])
