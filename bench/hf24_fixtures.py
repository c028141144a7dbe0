#!/usr/bin/env python3
"""Build the parity fixtures and the config-key fixture of issue 24 (families beside GPT-2 and Llama).

Runs where PyTorch and transformers 5 are installed (the lent GPU machine; no internet needed):

    python3 bench/hf24_fixtures.py --out /tmp/hf24 [--pylib DIR]

--pylib puts DIR last on sys.path (a copy of peft and accelerate when the machine has none); the
LoRA fixtures need peft, and are skipped (said in fixtures.json) without it.

Per fixture, as bench/hf_fixtures.py: a tiny model (vocabulary 64, width 32, two or three layers)
with transformers' own initialisation, the random ones with every bias and norm weight then moved
by 0.3·N(0, 1) so that a loader that drops or misreads them fails; the trained ones trained
briefly on this repository's Go sources (each byte folded to an id: min(b, 127) >> 1). Saved with
save_pretrained in bf16 (small files), reloaded with from_pretrained in float32 on the CPU with
eager attention, and its logits on fixed ids written to <name>.reference.safetensors beside the directory:

    ids     F32 (B, T)     the input token ids (B = 2, T = 24: longer than every window below)
    logits  F32 (B, T, V)  transformers' logits for ids

The LoRA fixtures hold the base model's files and, beside them, the adapter PEFT writes
(adapter_config.json, adapter_model.safetensors, lora_B drawn at random so the adapter is not a
no-op); their reference is AutoModelForCausalLM.from_pretrained(dir) — transformers finds the
adapter and applies it — and base_logits are the base model's alone.

config_keys.json records, per family, XConfig().to_dict(), the config.json XConfig().save_pretrained
writes and __init__'s parameters, and under "_base" PreTrainedConfig().to_dict(), GenerationConfig's
keys and the attributes PreTrainedConfig sets: the closed lists of gomlxmodel/hf are tested
against it. sources.txt holds the transformers (and peft) source nanoscope follows.
"""

import argparse
import glob
import importlib
import inspect
import json
import os
import sys
import tempfile
import time
import traceback
import types

V, T, B = 64, 24, 2


def corpus_ids():
    """This repository's Go sources as ids: each byte b folded to min(b, 127) >> 1 (0…63)."""
    import torch
    root = os.getcwd()  # the repository root (run from there)
    data = b""
    for path in sorted(glob.glob(os.path.join(root, "**", "*.go"), recursive=True)):
        with open(path, "rb") as f:
            data += f.read()
        if len(data) > 2_000_000:
            break
    t = torch.tensor(list(data), dtype=torch.long)
    return torch.clamp(t, max=127) >> 1


SMALL = dict(vocab_size=V, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
             bos_token_id=1, eos_token_id=2, pad_token_id=None)
GPT2_SMALL = dict(vocab_size=V, n_embd=32, n_layer=2, n_head=4, n_positions=64)
NEOX_SMALL = dict(vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, max_position_embeddings=64, bos_token_id=1, eos_token_id=2,
                  pad_token_id=None)


def rope(kind="default", theta=10000.0, **kw):
    return dict(rope_parameters=dict(rope_type=kind, rope_theta=theta, **kw))


FIXTURES = [
    # name, model class, config class, config kwargs, train steps
    ("qwen2_random_gqa", "Qwen2", dict(SMALL, rms_norm_eps=1e-6, tie_word_embeddings=False, **rope(theta=1e6)), 0),
    ("qwen2_trained_swa", "Qwen2", dict(SMALL, rms_norm_eps=1e-6, tie_word_embeddings=True, use_sliding_window=True,
                                        sliding_window=8, max_window_layers=1, **rope()), 200),
    ("qwen3_random_hd", "Qwen3", dict(SMALL, head_dim=16, rms_norm_eps=1e-6, attention_bias=True,
                                      tie_word_embeddings=False, **rope(theta=1e6)), 0),
    ("qwen3_trained_tied", "Qwen3", dict(SMALL, head_dim=16, rms_norm_eps=1e-6, tie_word_embeddings=True, **rope()), 200),
    ("mistral_random_swa", "Mistral", dict(SMALL, head_dim=12, rms_norm_eps=1e-5, sliding_window=8,
                                           tie_word_embeddings=False, **rope()), 0),
    ("mistral_trained_swa", "Mistral", dict(SMALL, num_key_value_heads=1, rms_norm_eps=1e-5, sliding_window=5,
                                            tie_word_embeddings=False, **rope()), 200),
    ("gemma_random_mqa", "Gemma", dict(SMALL, num_key_value_heads=1, head_dim=16, rms_norm_eps=1e-6,
                                       hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True, **rope()), 0),
    ("gemma_trained", "Gemma", dict(SMALL, head_dim=8, rms_norm_eps=1e-6, tie_word_embeddings=True, **rope()), 200),
    ("gemma2_random_caps", "Gemma2", dict(SMALL, head_dim=16, rms_norm_eps=1e-6, sliding_window=6,
                                          query_pre_attn_scalar=24, attn_logit_softcapping=2.0,
                                          final_logit_softcapping=3.0, tie_word_embeddings=True, **rope()), 0),
    ("gemma2_trained", "Gemma2", dict(SMALL, num_hidden_layers=3, head_dim=8, rms_norm_eps=1e-6, sliding_window=8,
                                      query_pre_attn_scalar=8, attn_logit_softcapping=50.0,
                                      final_logit_softcapping=30.0, tie_word_embeddings=True, **rope()), 200),
    ("phi3_random", "Phi3", dict(SMALL, rms_norm_eps=1e-5, tie_word_embeddings=False, **rope()), 0),
    ("phi3_trained", "Phi3", dict(SMALL, num_key_value_heads=4, rms_norm_eps=1e-5, tie_word_embeddings=False,
                                  **rope()), 200),
    ("gpt_neox_random_parallel", "GPTNeoX", dict(NEOX_SMALL, rotary_pct=0.25, use_parallel_residual=True,
                                                 tie_word_embeddings=False), 0),
    ("gpt_neox_random_sequential", "GPTNeoX", dict(NEOX_SMALL, rotary_pct=0.5, use_parallel_residual=False,
                                                   rotary_emb_base=500.0, tie_word_embeddings=False), 0),
    ("gpt_neox_trained", "GPTNeoX", dict(NEOX_SMALL, rotary_pct=0.25, use_parallel_residual=True,
                                         tie_word_embeddings=False), 200),
    ("llama_random_options", "Llama", dict(SMALL, head_dim=12, attention_bias=True, mlp_bias=True,
                                           tie_word_embeddings=False, **rope()), 0),
    ("llama_random_rope_linear", "Llama", dict(SMALL, num_attention_heads=2, num_key_value_heads=1,
                                               **rope("linear", factor=2.0)), 0),
    ("llama_random_rope_dynamic", "Llama", dict(SMALL, num_attention_heads=2, num_key_value_heads=1,
                                                max_position_embeddings=16, **rope("dynamic", factor=2.0)), 0),
    ("llama_random_rope_llama3", "Llama", dict(SMALL, num_attention_heads=2, num_key_value_heads=1,
                                               **rope("llama3", factor=4.0, low_freq_factor=1.0,
                                                      high_freq_factor=4.0, original_max_position_embeddings=64)), 0),
    ("llama_random_rope_yarn", "Llama", dict(SMALL, num_attention_heads=2, num_key_value_heads=1,
                                             **rope("yarn", factor=4.0, original_max_position_embeddings=16,
                                                    beta_fast=32.0, beta_slow=1.0)), 0),
    ("gpt2_random_inverse_layer_idx", "GPT2", dict(GPT2_SMALL, n_layer=3, scale_attn_by_inverse_layer_idx=True,
                                                   reorder_and_upcast_attn=True, tie_word_embeddings=True), 0),
]

# LoRA adapters: name, base fixture kwargs (model class, config), LoraConfig kwargs.
LORAS = [
    ("lora_llama", "Llama", dict(SMALL, tie_word_embeddings=False, **rope()),
     dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], lora_dropout=0.0, bias="none")),
    ("lora_llama_rslora_regex", "Llama", dict(SMALL, tie_word_embeddings=True, **rope()),
     dict(r=4, lora_alpha=16, use_rslora=True, target_modules=r".*\.(k_proj|o_proj|up_proj)",
          lora_dropout=0.0, bias="none")),
    ("lora_gpt2_fan_in_fan_out", "GPT2", dict(GPT2_SMALL, tie_word_embeddings=True),
     dict(r=2, lora_alpha=4, target_modules=["c_attn", "c_fc", "c_proj"], fan_in_fan_out=True,
          lora_dropout=0.0, bias="none")),
]


def classes(prefix):
    import transformers
    return getattr(transformers, prefix + "Config"), getattr(transformers, prefix + "ForCausalLM",
                                                             None) or getattr(transformers, prefix + "LMHeadModel")


def make_model(prefix, kw, seed):
    import torch
    cfg_cls, model_cls = classes(prefix)
    cfg = cfg_cls(**kw)
    torch.manual_seed(seed)
    return model_cls(cfg)


def perturb(model):
    """Move every bias and norm weight by 0.3·N(0, 1) (transformers initialises them to 0 or 1)."""
    import torch
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith(".bias") or "norm" in pname or ".ln_" in pname or "layernorm" in pname:
                p.add_(0.3 * torch.randn_like(p))


def train(model, data, steps, seq, batch, lr, seed, device):
    import torch
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


def fixed_ids(i, data, trained):
    import torch
    g = torch.Generator().manual_seed(70 + i)
    if trained:
        s = int(torch.randint(0, len(data) - T, (1,), generator=g))
        return torch.stack([data[s:s + T], torch.randint(0, V, (T,), generator=g)])
    return torch.randint(0, V, (B, T), generator=g)


def save_reference(d, ids, logits, **extra):
    from safetensors.torch import save_file
    t = {"ids": ids.float().contiguous(), "logits": logits.float().contiguous()}
    t.update({k: v.float().contiguous() for k, v in extra.items()})
    save_file(t, d + ".reference.safetensors")  # beside, not in, the checkpoint


def reload(d):
    import torch
    from transformers import AutoModelForCausalLM
    ref = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager")
    return ref.eval()


def summary_of(d, name, prefix, kw, steps, loss, ref, logits, t0, **more):
    files = sorted(os.listdir(d))
    out = {"name": name, "class": prefix, "config": kw, "train_steps": steps, "final_loss": loss,
           "files": files, "params": sorted(ref.state_dict().keys()),
           "config_dict": json.loads(json.dumps(ref.config.to_dict(), default=str)),
           "bytes": sum(os.path.getsize(os.path.join(d, f)) for f in files),
           "argmax_top": logits.argmax(-1)[0, :8].tolist(), "max_abs_logit": logits.abs().max().item(),
           "seconds": round(time.time() - t0, 1)}
    out.update(more)
    print(name, {k: out[k] for k in ("files", "bytes", "final_loss", "argmax_top", "seconds")}, flush=True)
    return out


def build(i, name, prefix, kw, steps, out_dir, data, device):
    import torch
    t0 = time.time()
    model = make_model(prefix, kw, 2400 + i)
    model.eval()
    if not steps:
        perturb(model)
    loss = train(model, data, steps, seq=48, batch=32, lr=3e-3, seed=i, device=device) if steps else None
    d = os.path.join(out_dir, name)
    model.to(torch.bfloat16).save_pretrained(d)
    ref = reload(d)
    ids = fixed_ids(i, data, bool(steps))
    with torch.no_grad():
        logits = ref(input_ids=ids).logits.float()
        # the same ids with the window off: how much the window changes the logits
        nowin = None
        if getattr(ref.config, "sliding_window", None):
            c2 = ref.config.__class__.from_dict(ref.config.to_dict())
            c2.sliding_window = None
            if getattr(c2, "layer_types", None):
                c2.layer_types = ["full_attention"] * c2.num_hidden_layers
            try:
                m2 = classes(prefix)[1](c2)
                m2.config._attn_implementation = "eager"
                m2.load_state_dict(ref.state_dict())
                nowin = (m2.eval()(input_ids=ids).logits - logits).abs().max().item()
            except Exception as e:
                nowin = repr(e)
    save_reference(d, ids, logits)
    return summary_of(d, name, prefix, kw, steps, loss, ref, logits, t0,
                      layer_types=getattr(ref.config, "layer_types", None),
                      max_abs_logit_change_without_window=nowin)


def build_lora(i, name, prefix, kw, lora_kw, out_dir, data, device):
    import torch
    import peft
    t0 = time.time()
    base = make_model(prefix, kw, 2600 + i)
    base.eval()
    perturb(base)
    d = os.path.join(out_dir, name)
    base.to(torch.bfloat16).save_pretrained(d)
    base = reload(d)
    ids = fixed_ids(100 + i, data, False)
    with torch.no_grad():
        base_logits = base(input_ids=ids).logits.float()
    pm = peft.get_peft_model(base, peft.LoraConfig(**lora_kw))
    with torch.no_grad():
        g = torch.Generator().manual_seed(90 + i)
        for pname, p in pm.named_parameters():
            if "lora_" in pname:  # lora_B starts at zero: draw both so the adapter changes the logits
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
    with tempfile.TemporaryDirectory() as td:
        pm.save_pretrained(td)
        for f in os.listdir(td):
            os.replace(os.path.join(td, f), os.path.join(d, f))
    ref = reload(d)  # transformers finds adapter_config.json and applies it (peft installed)
    applied_via = "from_pretrained(dir)"
    if not any("lora_" in k for k in ref.state_dict()):
        ref.load_adapter(d)
        applied_via = "from_pretrained(dir) served the base: load_adapter(dir) applied it"
    with torch.no_grad():
        logits = ref(input_ids=ids).logits.float()
    save_reference(d, ids, logits, base_logits=base_logits)
    with open(os.path.join(d, "adapter_config.json")) as f:
        acfg = json.load(f)
    return summary_of(d, name, prefix, kw, 0, None, ref, logits, t0, lora=lora_kw, adapter_config=acfg,
                      peft_version=peft.__version__, applied=type(ref).__name__, applied_via=applied_via,
                      ref_has_lora=any("lora_" in k for k in ref.state_dict()),
                      max_abs_change_from_base=(logits - base_logits).abs().max().item())


FAMILY_CONFIGS = ["GPT2", "Llama", "Qwen2", "Qwen3", "Mistral", "Gemma", "Gemma2", "Phi3", "GPTNeoX"]


def config_keys():
    import transformers
    out = {}
    variants = {p.lower() if p != "GPTNeoX" else "gpt_neox": (p, {}) for p in FAMILY_CONFIGS}
    variants["qwen2_swa"] = ("Qwen2", dict(use_sliding_window=True, sliding_window=16, max_window_layers=3,
                                           num_hidden_layers=4))
    variants["qwen3_swa"] = ("Qwen3", dict(use_sliding_window=True, sliding_window=16, max_window_layers=3,
                                           num_hidden_layers=4))
    for name, (prefix, kw) in variants.items():
        try:
            c = getattr(transformers, prefix + "Config")(**kw)
            with tempfile.TemporaryDirectory() as td:
                c.save_pretrained(td)
                with open(os.path.join(td, "config.json")) as f:
                    saved = json.load(f)
            d = json.loads(json.dumps(c.to_dict(), default=str))
            sig = list(inspect.signature(type(c).__init__).parameters)
            out[name] = {"to_dict": d, "config_json": saved, "init_params": sig,
                         "attribute_map": dict(getattr(type(c), "attribute_map", {}) or {})}
        except Exception:
            traceback.print_exc()
    base = {}
    for what, fn in [
        ("to_dict", lambda: transformers.PreTrainedConfig().to_dict()),
        ("to_dict_legacy", lambda: transformers.PretrainedConfig().to_dict()),
        ("vars", lambda: {k: None for k in vars(transformers.PreTrainedConfig())}),
        ("generation_config", lambda: transformers.GenerationConfig().to_dict()),
        ("init_params", lambda: list(inspect.signature(transformers.PreTrainedConfig.__init__).parameters)),
        ("class_attrs", lambda: [k for k in dir(transformers.PreTrainedConfig) if not k.startswith("__")]),
    ]:
        try:
            base[what] = json.loads(json.dumps(fn(), default=str))
        except Exception as e:
            base[what] = "FAILED " + repr(e)
    out["_base"] = base
    return out


def sources(path):
    mods = ["transformers.models.llama.modeling_llama", "transformers.models.gpt2.modeling_gpt2",
            "transformers.models.qwen2.modeling_qwen2", "transformers.models.qwen2.configuration_qwen2",
            "transformers.models.qwen3.modeling_qwen3", "transformers.models.qwen3.configuration_qwen3",
            "transformers.models.mistral.modeling_mistral", "transformers.models.mistral.configuration_mistral",
            "transformers.models.gemma.modeling_gemma", "transformers.models.gemma.configuration_gemma",
            "transformers.models.gemma2.modeling_gemma2", "transformers.models.gemma2.configuration_gemma2",
            "transformers.models.phi3.modeling_phi3", "transformers.models.phi3.configuration_phi3",
            "transformers.models.gpt_neox.modeling_gpt_neox", "transformers.models.gpt_neox.configuration_gpt_neox",
            "transformers.modeling_rope_utils", "transformers.masking_utils", "transformers.configuration_utils",
            "transformers.activations", "transformers.integrations.peft",
            "peft.tuners.lora.layer", "peft.tuners.lora.config", "peft.tuners.tuners_utils", "peft.utils.save_and_load"]
    with open(path, "w") as f:
        for m in mods:
            try:
                f.write("\n\n######## " + m + "\n" + inspect.getsource(importlib.import_module(m)))
            except Exception as e:
                f.write("\n\n######## " + m + " FAILED " + repr(e))


def import_peft(pylib):
    """Imports peft (from pylib when given); a missing psutil, which accelerate imports but a
    forward never calls, is stubbed and said so. Returns a line describing what was imported."""
    if pylib:
        sys.path.append(pylib)  # an installed peft comes first
    stub = ""
    try:
        import psutil  # noqa: F401
    except ImportError:
        sys.modules["psutil"] = types.ModuleType("psutil")
        stub = " (psutil stubbed)"
    try:
        import peft
        return "peft " + peft.__version__ + " from " + os.path.dirname(peft.__file__) + stub
    except Exception as e:
        traceback.print_exc()
        return "peft unavailable: " + repr(e)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--pylib", default="")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    peft_line = import_peft(args.pylib)
    print(peft_line, flush=True)
    import torch
    import transformers
    torch.use_deterministic_algorithms(False)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    data = corpus_ids()
    with open(os.path.join(args.out, "config_keys.json"), "w") as f:
        json.dump({"transformers": transformers.__version__, "source": "bench/hf24_fixtures.py on the lent GPU machine",
                   "families": config_keys()}, f, indent=1, sort_keys=True)
    sources(os.path.join(args.out, "sources.txt"))
    summary = {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft_line,
               "device": device, "corpus_ids": len(data), "fixtures": [], "failed": {}}
    jobs = [(build, (i, *fx)) for i, fx in enumerate(FIXTURES)] + \
           [(build_lora, (i, *fx)) for i, fx in enumerate(LORAS)]
    for fn, a in jobs:
        try:
            summary["fixtures"].append(fn(*a, out_dir=args.out, data=data, device=device))
        except Exception:
            traceback.print_exc()
            summary["failed"][a[1]] = traceback.format_exc()[-2000:]
    with open(os.path.join(args.out, "fixtures.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print("failed:", list(summary["failed"]), flush=True)


if __name__ == "__main__":
    main()
