#!/usr/bin/env python3
"""Build the qwen2 / qwen3 / mistral parity fixtures and the config-key fixture of issue 24.

Runs where PyTorch and transformers 5 are installed (the lent GPU machine):

    python3 bench/hf24_fixtures.py --out /tmp/hf24

Per fixture, as bench/hf_fixtures.py: a tiny model with transformers' own initialisation (the
random ones with their biases and q/k norm weights then drawn at random, so that a loader that
drops them fails), optionally trained briefly on this repository's Go sources as bytes, saved
with save_pretrained, reloaded with from_pretrained in float32 on the CPU with eager attention,
and its logits on fixed ids written to reference.safetensors (ids F32 (B, T), logits F32 (B, T, V)).
T = 32 is longer than every sliding window below, so the window applies.

config_keys.json records, per family, the keys and values of XConfig().to_dict() and of the
config.json that XConfig().save_pretrained writes: the closed lists of gomlxmodel/hf are tested
against it. sources.txt holds the transformers source nanoscope follows (attention, masks, norms).
"""

import argparse
import glob
import inspect
import json
import os
import tempfile
import time
import traceback

import torch
import transformers
from transformers import (AutoModelForCausalLM, GPT2Config, LlamaConfig, MistralConfig,
                          MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM, Qwen3Config,
                          Qwen3ForCausalLM)

CLASSES = {"qwen2": (Qwen2Config, Qwen2ForCausalLM), "qwen3": (Qwen3Config, Qwen3ForCausalLM),
           "mistral": (MistralConfig, MistralForCausalLM)}


def corpus_bytes():
    root = os.getcwd()  # the repository root (run from there)
    data = b""
    for path in sorted(glob.glob(os.path.join(root, "**", "*.go"), recursive=True)):
        with open(path, "rb") as f:
            data += f.read()
        if len(data) > 2_000_000:
            break
    return torch.tensor(list(data), dtype=torch.long)


def make_config(family, kw):
    kw = dict(kw)
    theta = kw.pop("rope_theta")
    cls = CLASSES[family][0]
    try:
        return cls(rope_parameters={"rope_type": "default", "rope_theta": theta}, **kw)
    except TypeError:
        return cls(rope_theta=theta, **kw)


def train(model, data, steps, seq, batch, lr, seed, device):
    g = torch.Generator().manual_seed(seed)
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    loss = None
    for _ in range(steps):
        starts = torch.randint(0, len(data) - seq - 1, (batch,), generator=g)
        x = torch.stack([data[s:s + seq] for s in starts]).to(device)
        out = model(input_ids=x, labels=x)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        loss = out.loss.item()
    model.to("cpu").eval()
    return loss


FIXTURES = [
    # name, family, config kwargs, train steps
    ("qwen2_random_gqa", "qwen2",
     dict(vocab_size=301, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
          num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=64,
          rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=False), 0),
    ("qwen2_trained_swa", "qwen2",
     dict(vocab_size=260, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
          rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=True,
          use_sliding_window=True, sliding_window=8, max_window_layers=1), 250),
    ("qwen3_random_hd", "qwen3",
     dict(vocab_size=301, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
          num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=64,
          rms_norm_eps=1e-6, rope_theta=1000000.0, attention_bias=True, tie_word_embeddings=False), 0),
    ("qwen3_trained_tied", "qwen3",
     dict(vocab_size=260, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
          num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=128,
          rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=True), 250),
    ("mistral_random_swa", "mistral",
     dict(vocab_size=301, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
          num_attention_heads=6, num_key_value_heads=2, head_dim=12, max_position_embeddings=64,
          rms_norm_eps=1e-5, rope_theta=10000.0, sliding_window=8, tie_word_embeddings=False), 0),
    ("mistral_trained_swa", "mistral",
     dict(vocab_size=260, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
          num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=128,
          rms_norm_eps=1e-5, rope_theta=10000.0, sliding_window=5, tie_word_embeddings=False), 250),
]


def build(i, name, family, kw, steps, out_dir, data, device):
    t0 = time.time()
    torch.manual_seed(2400 + i)
    model = CLASSES[family][1](make_config(family, kw))
    model.eval()
    if not steps:  # draw biases and q/k norm weights, which transformers initialises to 0 and 1
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if pname.endswith(".bias"):
                    p.copy_(0.3 * torch.randn_like(p))
                elif "q_norm" in pname or "k_norm" in pname or "layernorm" in pname or pname == "model.norm.weight":
                    p.copy_(1 + 0.3 * torch.randn_like(p))
    loss = None
    if steps:
        loss = train(model, data, steps, seq=48, batch=32, lr=3e-3, seed=i, device=device)
    d = os.path.join(out_dir, name)
    model.save_pretrained(d)
    ref = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager")
    ref.eval()
    V, T = kw["vocab_size"], 32
    g = torch.Generator().manual_seed(70 + i)
    if steps:
        s = int(torch.randint(0, len(data) - T, (1,), generator=g))
        ids = torch.stack([data[s:s + T], torch.randint(0, V, (T,), generator=g)])
    else:
        ids = torch.randint(0, V, (2, T), generator=g)
    with torch.no_grad():
        logits = ref(input_ids=ids).logits.float().contiguous()
        # the same ids with the window off: how much the window changes the logits
        nowin = None
        if getattr(ref.config, "sliding_window", None):
            c2 = ref.config.__class__.from_dict(ref.config.to_dict())
            c2.sliding_window = None
            if hasattr(c2, "layer_types"):
                c2.layer_types = ["full_attention"] * c2.num_hidden_layers
            m2 = AutoModelForCausalLM.from_config(c2, attn_implementation="eager")
            m2.load_state_dict(ref.state_dict())
            m2.eval()
            nowin = (m2(input_ids=ids).logits - logits).abs().max().item()
    from safetensors.torch import save_file
    save_file({"ids": ids.float().contiguous(), "logits": logits}, os.path.join(d, "reference.safetensors"))
    files = sorted(os.listdir(d))
    out = {"name": name, "family": family, "config": kw, "train_steps": steps, "final_loss": loss,
           "save": "single", "files": files, "params": sorted(ref.state_dict().keys()),
           "layer_types": getattr(ref.config, "layer_types", None),
           "max_abs_logit_change_without_window": nowin,
           "bytes": sum(os.path.getsize(os.path.join(d, f)) for f in files),
           "argmax_top": logits.argmax(-1)[0, :8].tolist(), "seconds": round(time.time() - t0, 1)}
    print(name, out, flush=True)
    return out


def config_keys():
    out = {}
    variants = {
        "gpt2": lambda: GPT2Config(), "llama": lambda: LlamaConfig(),
        "qwen2": lambda: Qwen2Config(), "qwen3": lambda: Qwen3Config(), "mistral": lambda: MistralConfig(),
        "qwen2_swa": lambda: Qwen2Config(use_sliding_window=True, sliding_window=16, max_window_layers=3,
                                         num_hidden_layers=4),
        "qwen3_swa": lambda: Qwen3Config(use_sliding_window=True, sliding_window=16, max_window_layers=3,
                                         num_hidden_layers=4),
    }
    for name, mk in variants.items():
        try:
            c = mk()
            with tempfile.TemporaryDirectory() as td:
                c.save_pretrained(td)
                with open(os.path.join(td, "config.json")) as f:
                    saved = json.load(f)
            d = json.loads(json.dumps(c.to_dict(), default=str))
            sig = list(inspect.signature(type(c).__init__).parameters)
            out[name] = {"to_dict": d, "config_json": saved, "init_params": sig}
        except Exception:
            traceback.print_exc()
    try:
        out["_base_to_dict"] = json.loads(json.dumps(transformers.PreTrainedConfig().to_dict(), default=str))
    except Exception:
        try:
            out["_base_to_dict"] = json.loads(json.dumps(transformers.PretrainedConfig().to_dict(), default=str))
        except Exception:
            traceback.print_exc()
    return out


def sources(path):
    import importlib
    mods = ["transformers.models.qwen2.modeling_qwen2", "transformers.models.qwen2.configuration_qwen2",
            "transformers.models.qwen3.modeling_qwen3", "transformers.models.qwen3.configuration_qwen3",
            "transformers.models.mistral.modeling_mistral", "transformers.models.mistral.configuration_mistral",
            "transformers.masking_utils", "transformers.configuration_utils"]
    with open(path, "w") as f:
        for m in mods:
            try:
                f.write("\n\n######## " + m + "\n" + inspect.getsource(importlib.import_module(m)))
            except Exception as e:
                f.write("\n\n######## " + m + " FAILED " + repr(e))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    data = corpus_bytes()
    with open(os.path.join(args.out, "config_keys.json"), "w") as f:
        json.dump({"transformers": transformers.__version__, "families": config_keys()}, f, indent=1, sort_keys=True)
    sources(os.path.join(args.out, "sources.txt"))
    summary = {"torch": torch.__version__, "transformers": transformers.__version__,
               "device": device, "corpus_bytes": len(data), "fixtures": []}
    for i, fx in enumerate(FIXTURES):
        try:
            summary["fixtures"].append(build(i, *fx, out_dir=args.out, data=data, device=device))
        except Exception:
            traceback.print_exc()
    with open(os.path.join(args.out, "fixtures.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
