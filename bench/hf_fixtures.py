#!/usr/bin/env python3
"""Build the Hugging Face parity fixtures of gomlxmodel/hf (issue 12, item 2).

Runs where PyTorch and transformers 5 are installed (the lent GPU machine; no internet needed):

    python3 bench/hf_fixtures.py --out /tmp/hf && tar -C /tmp -czf hf.tar.gz hf

For each fixture it builds a small GPT-2 or Llama model with transformers' own initialisation,
optionally trains it briefly (byte-level next-token prediction on this repository's Go sources),
saves it with save_pretrained (one single file, sharded with a small max_shard_size, or cast to
bf16 or f16), reloads the saved directory with from_pretrained in float32 on the CPU with eager
attention, and records the reloaded model's logits on fixed inputs in <name>.reference.safetensors (beside the
directory: nanoscope refuses files it does not know inside a checkpoint):

    ids     F32 (B, T)     the input token ids (exact small integers)
    logits  F32 (B, T, V)  transformers' logits for ids

A bf16 or f16 fixture's reference is computed from the file upcast to float32, which is what
nanoscope does when it loads it. fixtures.json lists every fixture with its configuration, how it
was saved, its training loss and the library versions.
"""

import argparse
import glob
import json
import os
import time
import traceback

import torch
import transformers
from transformers import (AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, LlamaConfig,
                          LlamaForCausalLM)


def corpus_bytes():
    """This repository's Go sources as bytes (the training text of the trained fixtures)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    data = b""
    for path in sorted(glob.glob(os.path.join(root, "**", "*.go"), recursive=True)):
        with open(path, "rb") as f:
            data += f.read()
        if len(data) > 2_000_000:
            break
    return torch.tensor(list(data), dtype=torch.long)


def llama_config(**kw):
    theta = kw.pop("rope_theta")
    try:  # transformers 5 writes rope_parameters
        return LlamaConfig(rope_parameters={"rope_type": "default", "rope_theta": theta}, **kw)
    except TypeError:
        return LlamaConfig(rope_theta=theta, **kw)


def train(model, data, steps, seq, batch, lr, seed, device):
    """Brief AdamW training on random windows of data; returns the final loss."""
    g = torch.Generator().manual_seed(seed)
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    loss = None
    for step in range(steps):
        starts = torch.randint(0, len(data) - seq - 1, (batch,), generator=g)
        x = torch.stack([data[s:s + seq] for s in starts]).to(device)
        out = model(input_ids=x, labels=x)  # transformers shifts the labels internally
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        loss = out.loss.item()
    model.to("cpu").eval()
    return loss


FIXTURES = [
    # name, family, config kwargs, train steps, save mode
    ("gpt2_random", "gpt2",
     dict(vocab_size=301, n_positions=64, n_embd=48, n_layer=3, n_head=4), 0, "single"),
    ("gpt2_trained_sharded", "gpt2",
     dict(vocab_size=260, n_positions=128, n_embd=64, n_layer=2, n_head=2, layer_norm_epsilon=1e-5),
     300, "sharded"),
    ("gpt2_untied_bf16", "gpt2",
     dict(vocab_size=301, n_positions=64, n_embd=40, n_layer=2, n_head=5, tie_word_embeddings=False),
     200, "bf16"),
    ("llama_random_gqa", "llama",
     dict(vocab_size=301, hidden_size=48, intermediate_size=100, num_hidden_layers=3,
          num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=64,
          rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=False), 0, "single"),
    ("llama_trained_tied_sharded", "llama",
     dict(vocab_size=260, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
          rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=True), 300, "sharded"),
    ("llama_trained_bf16", "llama",
     dict(vocab_size=260, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
          num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64,
          rms_norm_eps=1e-6, rope_theta=1000.0, tie_word_embeddings=False), 300, "bf16"),
    ("llama_mqa_f16", "llama",
     dict(vocab_size=301, hidden_size=32, intermediate_size=72, num_hidden_layers=2,
          num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=64,
          rms_norm_eps=1e-5, rope_theta=1000000.0, tie_word_embeddings=True), 0, "f16"),
    ("gpt2_inner_f16", "gpt2",
     dict(vocab_size=299, n_positions=40, n_embd=32, n_layer=2, n_head=4, n_inner=80,
          activation_function="gelu_pytorch_tanh"), 100, "f16"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps-scale", type=float, default=1.0)
    ap.add_argument("--only", default="", help="comma-separated fixture names to build (default: all)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    data = corpus_bytes()
    summary = {"torch": torch.__version__, "transformers": transformers.__version__,
               "device": device, "corpus_bytes": len(data), "fixtures": []}
    for i, fixture in enumerate(FIXTURES):
        if args.only and fixture[0] not in args.only.split(","):
            continue
        try:
            summary["fixtures"].append(build(i, *fixture, args=args, data=data, device=device))
        except Exception:  # keep the others: one failure must not cost the whole run
            traceback.print_exc()
    with open(os.path.join(args.out, "fixtures.json"), "w") as f:
        json.dump(summary, f, indent=1)


def build(i, name, family, kw, steps, save, args, data, device):
    t0 = time.time()
    torch.manual_seed(1000 + i)
    if family == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(**kw))
    else:
        model = LlamaForCausalLM(llama_config(**dict(kw)))
    model.eval()
    loss = None
    steps = int(steps * args.steps_scale)
    if steps:
        seq = min(48, kw.get("n_positions", kw.get("max_position_embeddings", 48)))
        loss = train(model, data, steps, seq=seq, batch=32, lr=3e-3, seed=i, device=device)
    d = os.path.join(args.out, name)
    if save == "single":
        model.save_pretrained(d)
    elif save == "sharded":
        try:
            model.save_pretrained(d, max_shard_size="100KB")
        except (TypeError, ValueError):
            model.save_pretrained(d, max_shard_size=100_000)
    elif save == "f16":
        model.to(torch.float16).save_pretrained(d)
    else:
        model.to(torch.bfloat16).save_pretrained(d)
    ref = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager")
    ref.eval()
    V, T = kw["vocab_size"], 24
    g = torch.Generator().manual_seed(7 + i)
    if steps:  # text the model was trained on, and random ids
        s = int(torch.randint(0, len(data) - T, (1,), generator=g))
        ids = torch.stack([data[s:s + T], torch.randint(0, V, (T,), generator=g)])
    else:
        ids = torch.randint(0, V, (2, T), generator=g)
    with torch.no_grad():
        logits = ref(input_ids=ids).logits.float().contiguous()
    from safetensors.torch import save_file
    save_file({"ids": ids.float().contiguous(), "logits": logits}, d + ".reference.safetensors")  # beside, not in, the checkpoint
    files = sorted(os.listdir(d))
    out = {
        "name": name, "family": family, "config": kw, "train_steps": steps, "final_loss": loss,
        "save": save, "files": files, "bytes": sum(os.path.getsize(os.path.join(d, f)) for f in files),
        "argmax_top": logits.argmax(-1)[0, :8].tolist(), "seconds": round(time.time() - t0, 1)}
    print(name, out, flush=True)
    return out


if __name__ == "__main__":
    main()
