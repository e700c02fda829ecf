"""Capture cost on a model zoo: for each model (one fresh process each), the forward pass's time
and peak memory, then `pycx.capture`'s (default settings) on the same batch, and what the
capture skipped. Writes a CSV (rewritten after every model, so a long run keeps what it has)
and prints a Markdown table.

    python tools/zoo_table.py --zoo torchvision --batch 16 --out zoo.csv [--models resnet18 vit_b_16]
    python tools/zoo_table.py --zoo huggingface --batch 16 --out hf.csv

torchvision: every classification model (random weights; 64x64 inputs, 96x96 for Inception,
224x224 for ViT / Swin / MaxViT whose position embeddings or windows fix the size). Needs
torchvision (the model-zoo environment of the README).
huggingface: the tiny configs of the Hugging Face test suite (two layers, width 32, random
weights, no download), 12 tokens per sequence with two sequences padded. Needs transformers.

Memory is the process's peak resident size (ru_maxrss): the forward pass runs first, so
"capture MB above forward" is what the capture added to the peak. Times are the best of two
trials after a warm-up pass (a trial repeats a call shorter than half a second until it lasts
that long, and takes the mean), forward then capture back to back in the same process, and the
ratio is taken between them. Bounds (the zoo goal): capture within 3x the forward time and
within 1 GB above the forward pass's peak. A model outside them is measured once more in a
fresh process, to tell load noise from a real excess; `within_bounds` says "yes", "yes (rerun)"
(the first measurement was outside, the rerun inside) or "no" (both outside).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import subprocess
import sys
import time

FULL_SIZE = ("vit_", "swin", "maxvit")
MAX_RATIO, MAX_MB = 3.0, 1024
MIN_TRIAL_S = 0.5  # a timed trial repeats a short call until it lasts this long
FIELDS = ["model", "input", "layers", "units_last", "skipped", "skipped_kinds", "forward_s",
          "capture_s", "capture_over_forward", "forward_peak_mb", "capture_mb_above_forward",
          "rerun_capture_over_forward", "rerun_capture_mb_above_forward", "within_bounds"]


def hf_families(T) -> dict:
    """{name: constructor} of the tiny Hugging Face configs (the test suite's, rebuilt here so
    the tool does not import the tests)."""
    small = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=64, max_position_embeddings=64)
    seq2seq = dict(vocab_size=100, d_model=32, encoder_layers=2, decoder_layers=2,
                   encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                   decoder_ffn_dim=64, max_position_embeddings=64)
    return {
        "gpt2": lambda: T.GPT2Model(T.GPT2Config(vocab_size=100, n_embd=32, n_layer=2, n_head=2,
                                                 n_positions=64, bos_token_id=1, eos_token_id=2)),
        "llama": lambda: T.LlamaModel(T.LlamaConfig(**small, num_key_value_heads=2)),
        "mistral": lambda: T.MistralModel(T.MistralConfig(**small, num_key_value_heads=2)),
        "qwen2": lambda: T.Qwen2Model(T.Qwen2Config(**small, num_key_value_heads=2)),
        "gemma": lambda: T.GemmaModel(T.GemmaConfig(**small, num_key_value_heads=2, head_dim=16)),
        "phi": lambda: T.PhiModel(T.PhiConfig(**small)),
        "bert": lambda: T.BertModel(T.BertConfig(**small)),
        "roberta": lambda: T.RobertaModel(T.RobertaConfig(**dict(small, max_position_embeddings=70))),
        "t5": lambda: T.T5Model(T.T5Config(vocab_size=100, d_model=32, d_kv=16, d_ff=64,
                                           num_layers=2, num_heads=2, decoder_start_token_id=0)),
        "bart": lambda: T.BartModel(T.BartConfig(**seq2seq)),
        "vit": lambda: T.ViTModel(T.ViTConfig(hidden_size=32, num_hidden_layers=2,
                                              num_attention_heads=2, intermediate_size=64,
                                              image_size=32, patch_size=8)),
        "whisper": lambda: T.WhisperModel(T.WhisperConfig(
            vocab_size=100, pad_token_id=0, bos_token_id=1, eos_token_id=2,
            decoder_start_token_id=1, d_model=32, encoder_layers=1, decoder_layers=1,
            encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
            decoder_ffn_dim=64, num_mel_bins=16, max_source_positions=16,
            max_target_positions=16)),
        "wav2vec2": lambda: T.Wav2Vec2Model(T.Wav2Vec2Config(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            conv_dim=(16, 16), conv_stride=(5, 2), conv_kernel=(10, 3),
            num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)),
        "mixtral": lambda: T.MixtralModel(T.MixtralConfig(
            **small, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2)),
        "qwen2_moe": lambda: T.Qwen2MoeModel(T.Qwen2MoeConfig(
            **small, num_key_value_heads=2, num_experts=4, num_experts_per_tok=2,
            moe_intermediate_size=32, shared_expert_intermediate_size=48)),
    }


def hf_batch(name: str, n: int):
    """(batch dict with class labels, its input in words): 12 tokens, two sequences padded."""
    import torch

    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 100, (n, 12), generator=g)
    mask = torch.ones(n, 12, dtype=torch.long)
    mask[1 % n, 8:] = 0
    mask[3 % n, 5:] = 0
    labels = torch.arange(n) % 2
    if name in ("t5", "bart"):
        return ({"input_ids": ids, "attention_mask": mask, "decoder_input_ids": ids,
                 "labels": labels}, f"{n}x12 tokens (encoder and decoder)")
    if name == "vit":
        return {"pixel_values": torch.randn(n, 3, 32, 32, generator=g), "labels": labels}, \
            f"{n}x3x32x32"
    if name == "whisper":
        return ({"input_features": torch.randn(n, 16, 32, generator=g),
                 "decoder_input_ids": ids[:, :5], "labels": labels},
                f"{n}x16x32 features + {n}x5 tokens")
    if name == "wav2vec2":
        return {"input_values": torch.randn(n, 400, generator=g), "labels": labels}, \
            f"{n}x400 samples"
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}, f"{n}x12 tokens"


def _model_and_batch(zoo: str, name: str, batch: int):
    """(model, forward callable's inputs as (args, kwargs), capture batch, input in words)."""
    import torch

    torch.manual_seed(0)
    if zoo == "huggingface":
        import transformers

        model = hf_families(transformers)[name]().eval()
        data, words = hf_batch(name, batch)
        inputs = {k: v for k, v in data.items() if k != "labels"}
        return model, ((), inputs), data, words
    import torchvision

    kwargs = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
    model = torchvision.models.get_model(name, weights=None, **kwargs).eval()
    size = 224 if name.startswith(FULL_SIZE) else (96 if name.startswith("inception") else 64)
    x = torch.randn(batch, 3, size, size)
    return model, ((x,), {}), x, f"{batch}x3x{size}x{size}"


def measure(zoo: str, name: str, batch: int) -> dict:
    import resource
    import warnings

    import torch

    import pycx

    model, (args, kwargs), data, words = _model_and_batch(zoo, name, batch)
    describe_batch = data[:2] if torch.is_tensor(data) else data

    def best(fn):
        # A call of a few milliseconds is timed over enough repeats to last MIN_TRIAL_S:
        # one scheduler slice of a loaded machine would otherwise be the whole measurement.
        t = time.perf_counter()
        fn()
        repeats = max(1, min(1000, math.ceil(MIN_TRIAL_S / max(time.perf_counter() - t, 1e-6))))
        times = []
        for _ in range(2):
            t = time.perf_counter()
            for _ in range(repeats):
                fn()
            times.append((time.perf_counter() - t) / repeats)
        return min(times)

    def forward():
        with torch.no_grad():
            model(*args, **kwargs)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fwd = best(forward)
        peak_forward = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        cap_time = best(lambda: pycx.capture(model, [data], progress=False))
        cap = pycx.capture(model, [data], progress=False)
        df = pycx.describe(model, describe_batch)
    peak_capture = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    skipped = df[~df.captured]
    counts: dict = {}
    for k, r in zip(skipped.kind, skipped.reason):
        counts[f"{k}: {r}"] = counts.get(f"{k}: {r}", 0) + 1
    return {"model": name, "input": words, "layers": len(cap),
            "units_last": int(sum(r.unit_axis == -1 and len(r.shape) > 1 for r in cap)),
            "skipped": len(skipped),
            "skipped_kinds": "; ".join(f"{k} (x{c})" for k, c in sorted(counts.items())),
            "forward_s": round(fwd, 4), "capture_s": round(cap_time, 4),
            "capture_over_forward": round(cap_time / fwd, 2),
            "forward_peak_mb": round(peak_forward),
            "capture_mb_above_forward": round(peak_capture - peak_forward)}


def _outside(ratio, mb) -> bool:
    return ratio > MAX_RATIO or mb > MAX_MB


def _child(zoo: str, name: str, batch: int, timeout: float) -> dict:
    """One model measured in a fresh process; a failure or time-out is a row saying so."""
    try:
        run = subprocess.run([sys.executable, __file__, "--zoo", zoo, "--one", name,
                              "--batch", str(batch)], capture_output=True, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"model": name, "skipped_kinds": f"TIMED OUT after {timeout:.0f} s"}
    if run.returncode == 0:
        return json.loads(run.stdout.strip().splitlines()[-1])
    tail = (run.stderr.strip().splitlines() or [f"exit status {run.returncode}"])[-1]
    return {"model": name, "skipped_kinds": f"FAILED (exit {run.returncode}): {tail[:200]}"}


def _write(rows: list, out: str) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    w.writeheader()
    w.writerows(sorted(rows, key=lambda r: r["model"]))
    tmp = f"{out}.tmp{os.getpid()}"
    with open(tmp, "w", newline="") as f:
        f.write(buf.getvalue())
    os.replace(tmp, out)  # atomic: a reader never sees half a table


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--zoo", choices=["torchvision", "huggingface"], default="torchvision")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--models", nargs="*", default=None,
                   help="models to measure, in this order (default: the whole zoo)")
    p.add_argument("--out", default="zoo.csv")
    p.add_argument("--timeout", type=float, default=1800.0,
                   help="seconds per model process before it is recorded as timed out")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # the child process
    args = p.parse_args(argv)
    if args.batch < 1:
        p.error(f"--batch must be at least 1, got {args.batch}")
    if args.one:
        print(json.dumps(measure(args.zoo, args.one, args.batch)))
        return 0
    if args.zoo == "huggingface":
        import transformers

        zoo = sorted(hf_families(transformers))
    else:
        import torchvision

        zoo = sorted(torchvision.models.list_models(module=torchvision.models))
    names = args.models or zoo
    unknown = sorted(set(names) - set(zoo))
    if unknown:
        p.error(f"--models: not in the {args.zoo} zoo: {', '.join(unknown)}")
    rows = []
    for i, name in enumerate(names, 1):
        row = _child(args.zoo, name, args.batch, args.timeout)
        if "capture_over_forward" in row:
            row["within_bounds"] = "yes"
            if _outside(row["capture_over_forward"], row["capture_mb_above_forward"]):
                again = _child(args.zoo, name, args.batch, args.timeout)
                row["rerun_capture_over_forward"] = again.get("capture_over_forward", "")
                row["rerun_capture_mb_above_forward"] = again.get("capture_mb_above_forward", "")
                row["within_bounds"] = ("yes (rerun)" if "capture_over_forward" in again and not
                                        _outside(again["capture_over_forward"],
                                                 again["capture_mb_above_forward"]) else "no")
        rows.append(row)
        _write(rows, args.out)
        print(f"[{i}/{len(names)}] {json.dumps(row)}", file=sys.stderr, flush=True)
    print("| " + " | ".join(FIELDS) + " |")
    print("|" + "---|" * len(FIELDS))
    for r in sorted(rows, key=lambda r: r["model"]):
        print("| " + " | ".join(str(r.get(k, "")) for k in FIELDS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
