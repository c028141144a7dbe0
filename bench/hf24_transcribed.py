#!/usr/bin/env python3
"""Stand-in parity fixtures for issue 24, built where transformers is not installed.

    /usr/bin/python3 bench/hf24_transcribed.py --out gomlxmodel/hf/testdata/hf/transcribed

The reference logits here are NOT transformers': they come from a PyTorch transcription, written
for this file, of the forward passes of transformers' modeling_gemma, modeling_gemma2,
modeling_phi3, modeling_gpt_neox, modeling_qwen2 and modeling_llama with modeling_rope_utils'
linear, dynamic, llama3 and yarn inverse frequencies (eager attention, float32). It is a second
implementation in another framework — it catches layout, ordering and formula slips of the Go
code — but it shares its author's reading of transformers, so bench/hf24_fixtures.py's fixtures
(transformers 5.17 on the GPU machine) supersede it. Each directory holds config.json with the
keys transformers writes, model.safetensors with transformers' tensor names (BF16: the weights are drawn bf16-exact), and
<name>.reference.safetensors beside it (ids F32 (B, T), logits F32 (B, T, V)). Runs on PyTorch 1.13 (Debian's).
"""

import argparse
import json
import math
import os
import struct

import torch

V, T, B = 64, 24, 2


def save_safetensors(path, tensors, bf16=False):
    """Writes tensors as safetensors, F32, or BF16 (the values must be bf16-exact: see to_bf16)."""
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        t = tensors[name].detach().float().contiguous()
        if bf16:
            b = t.bfloat16().view(torch.int16).numpy().tobytes()
        else:
            b = t.numpy().tobytes()
        header[name] = {"dtype": "BF16" if bf16 else "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def rand_params(shapes, seed, norm_center):
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape in sorted(shapes.items()):
        if "norm" in name and name.endswith("weight"):
            out[name] = norm_center + 0.3 * torch.randn(shape, generator=g)
        elif name.endswith("bias"):
            out[name] = 0.3 * torch.randn(shape, generator=g)
        else:
            out[name] = 0.2 * torch.randn(shape, generator=g)
    return {k: v.bfloat16().float() for k, v in out.items()}  # bf16-exact: the files are stored in BF16


# --- modeling_rope_utils -------------------------------------------------------------------

def inv_freq(cfg, dim, seq_len):
    rp = cfg.get("rope_parameters", {})
    base, typ = rp.get("rope_theta", 10000.0), rp.get("rope_type", "default")
    inv = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    attn = 1.0
    if typ == "linear":
        inv = inv / rp["factor"]
    elif typ == "dynamic":
        mp, factor = cfg["max_position_embeddings"], rp["factor"]
        if seq_len > mp:
            b = base * ((factor * seq_len / mp) - (factor - 1)) ** (dim / (dim - 2))
            inv = 1.0 / (b ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    elif typ == "llama3":
        factor, lo, hi, old = rp["factor"], rp["low_freq_factor"], rp["high_freq_factor"], rp["original_max_position_embeddings"]
        lo_w, hi_w = old / lo, old / hi
        wave = 2 * math.pi / inv
        out = torch.where(wave > lo_w, inv / factor, inv)
        smooth = (old / wave - lo) / (hi - lo)
        smoothed = (1 - smooth) * out / factor + smooth * out
        medium = ~(wave < hi_w) * ~(wave > lo_w)
        inv = torch.where(medium, smoothed, out)
    elif typ == "yarn":
        factor, old = rp["factor"], rp["original_max_position_embeddings"]
        attn = rp.get("attention_factor") or (0.1 * math.log(factor) + 1.0)
        bf, bs = rp.get("beta_fast") or 32, rp.get("beta_slow") or 1

        def corr(rot):
            return (dim * math.log(old / (rot * 2 * math.pi))) / (2 * math.log(base))

        low, high = max(math.floor(corr(bf)), 0), min(math.ceil(corr(bs)), dim - 1)
        if low == high:
            high += 0.001
        ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low), 0, 1)
        pos = base ** (torch.arange(0, dim, 2).float() / dim)
        extra = 1 - ramp
        inv = (1.0 / (factor * pos)) * (1 - extra) + (1.0 / pos) * extra
    return inv, attn


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope(x, cfg, rot_dim):
    """x (B, H, T, hd): rotate the first rot_dim dimensions (apply_rotary_pos_emb)."""
    t = x.shape[2]
    inv, attn = inv_freq(cfg, rot_dim, t)
    freqs = torch.arange(t).float()[:, None] * inv[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos() * attn, emb.sin() * attn
    xr, xp = x[..., :rot_dim], x[..., rot_dim:]
    return torch.cat((xr * cos + rotate_half(xr) * sin, xp), dim=-1)


def mask(t, window):
    q, k = torch.arange(t)[:, None], torch.arange(t)[None, :]
    ok = k <= q
    if window:
        ok = ok & (k > q - window)  # masking_utils: kv_idx > q_idx - sliding_window
    return torch.where(ok, 0.0, float("-inf"))


def attend(q, k, v, scale, window, softcap=None):
    s = torch.matmul(q, k.transpose(2, 3)) * scale
    if softcap:
        s = torch.tanh(s / softcap) * softcap
    s = s + mask(q.shape[2], window)
    return torch.matmul(torch.softmax(s.float(), dim=-1), v)


def rms(x, w, eps, offset):
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return y * (1.0 + w) if offset else w * y


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


# --- the Llama-likes -------------------------------------------------------------------------

def llama_like(cfg, p, ids, lora=None):
    """lora: {module: (A, B, scale)}, applied unmerged as PEFT's forward does: x·Wᵀ + s·(x·Aᵀ)·Bᵀ."""
    lora = lora or {}
    mt = cfg["model_type"]
    D, H, KV = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or D // H
    F = cfg["intermediate_size"]
    eps = cfg["rms_norm_eps"]
    gemma = mt in ("gemma", "gemma2")
    act = gelu_tanh if gemma else torch.nn.functional.silu
    rot = int(hd * cfg.get("partial_rotary_factor", 1.0))
    x = p["model.embed_tokens.weight"][ids]
    if gemma:
        x = x * torch.tensor(D ** 0.5, dtype=x.dtype)
    b, t = ids.shape
    for i in range(cfg["num_hidden_layers"]):
        L = lambda n: p[f"model.layers.{i}.{n}"]
        def lin(u, n, bias=False, i=i, L=L):
            y = u @ L(n + ".weight").T + (L(n + ".bias") if bias else 0)
            if f"model.layers.{i}.{n}" in lora:
                a, b_, s = lora[f"model.layers.{i}.{n}"]
                y = y + s * ((u @ a.T) @ b_.T)
            return y

        u = rms(x, L("input_layernorm.weight"), eps, gemma)
        if mt == "phi3":
            qkv = lin(u, "self_attn.qkv_proj")
            q, k, v = qkv[..., :H * hd], qkv[..., H * hd:H * hd + KV * hd], qkv[..., H * hd + KV * hd:]
        else:
            qb = mt == "qwen2" or cfg.get("attention_bias", False)
            q, k, v = lin(u, "self_attn.q_proj", qb), lin(u, "self_attn.k_proj", qb), lin(u, "self_attn.v_proj", qb)
        q = q.view(b, t, H, hd).transpose(1, 2)
        k = k.view(b, t, KV, hd).transpose(1, 2)
        v = v.view(b, t, KV, hd).transpose(1, 2)
        q, k = rope(q, cfg, rot), rope(k, cfg, rot)
        k, v = k.repeat_interleave(H // KV, dim=1), v.repeat_interleave(H // KV, dim=1)
        window = None
        lt = cfg.get("layer_types")
        if mt in ("mistral", "phi3"):
            window = cfg.get("sliding_window")
        elif lt and lt[i] == "sliding_attention":
            window = cfg["sliding_window"]
        scale = (cfg["query_pre_attn_scalar"] if mt == "gemma2" else hd) ** -0.5
        z = attend(q, k, v, scale, window, cfg.get("attn_logit_softcapping") if mt == "gemma2" else None)
        a = lin(z.transpose(1, 2).reshape(b, t, H * hd), "self_attn.o_proj", cfg.get("attention_bias", False) and mt != "qwen2")
        if mt == "gemma2":
            a = rms(a, L("post_attention_layernorm.weight"), eps, True)
            x = x + a
            u = rms(x, L("pre_feedforward_layernorm.weight"), eps, True)
        else:
            x = x + a
            u = rms(x, L("post_attention_layernorm.weight"), eps, gemma)
        mb = cfg.get("mlp_bias", False)
        if mt == "phi3":
            gu = lin(u, "mlp.gate_up_proj")
            gate, up = gu.chunk(2, dim=-1)
            y = lin(up * act(gate), "mlp.down_proj")
        else:
            y = lin(act(lin(u, "mlp.gate_proj", mb)) * lin(u, "mlp.up_proj", mb), "mlp.down_proj", mb)
        if mt == "gemma2":
            y = rms(y, L("post_feedforward_layernorm.weight"), eps, True)
        x = x + y
    x = rms(x, p["model.norm.weight"], eps, gemma)
    head = p["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else p["lm_head.weight"]
    logits = x @ head.T
    if mt == "gemma2" and cfg.get("final_logit_softcapping"):
        c = cfg["final_logit_softcapping"]
        logits = torch.tanh(logits / c) * c
    return logits


def llama_shapes(cfg):
    mt = cfg["model_type"]
    D, H, KV = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or D // H
    F = cfg["intermediate_size"]
    s = {"model.embed_tokens.weight": (V, D), "model.norm.weight": (D,)}
    if not cfg["tie_word_embeddings"]:
        s["lm_head.weight"] = (V, D)
    for i in range(cfg["num_hidden_layers"]):
        n = lambda x: f"model.layers.{i}.{x}"
        s[n("input_layernorm.weight")] = (D,)
        s[n("post_attention_layernorm.weight")] = (D,)
        s[n("self_attn.o_proj.weight")] = (D, H * hd)
        s[n("mlp.down_proj.weight")] = (D, F)
        if mt == "phi3":
            s[n("self_attn.qkv_proj.weight")] = (H * hd + 2 * KV * hd, D)
            s[n("mlp.gate_up_proj.weight")] = (2 * F, D)
        else:
            s[n("self_attn.q_proj.weight")] = (H * hd, D)
            s[n("self_attn.k_proj.weight")] = (KV * hd, D)
            s[n("self_attn.v_proj.weight")] = (KV * hd, D)
            s[n("mlp.gate_proj.weight")] = (F, D)
            s[n("mlp.up_proj.weight")] = (F, D)
        if mt == "qwen2" or cfg.get("attention_bias"):
            s[n("self_attn.q_proj.bias")] = (H * hd,)
            s[n("self_attn.k_proj.bias")] = (KV * hd,)
            s[n("self_attn.v_proj.bias")] = (KV * hd,)
        if cfg.get("attention_bias") and mt != "qwen2":
            s[n("self_attn.o_proj.bias")] = (D,)
        if cfg.get("mlp_bias"):
            s[n("mlp.gate_proj.bias")], s[n("mlp.up_proj.bias")], s[n("mlp.down_proj.bias")] = (F,), (F,), (D,)
        if mt == "gemma2":
            s[n("pre_feedforward_layernorm.weight")] = (D,)
            s[n("post_feedforward_layernorm.weight")] = (D,)
    return s


# --- GPT-NeoX ----------------------------------------------------------------------------

def neox(cfg, p, ids):
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    hd = D // H
    rot = int(hd * cfg["rope_parameters"]["partial_rotary_factor"])
    eps = cfg["layer_norm_eps"]
    ln = lambda x, n: torch.nn.functional.layer_norm(x, (D,), p[n + ".weight"], p[n + ".bias"], eps)
    x = p["gpt_neox.embed_in.weight"][ids]
    b, t = ids.shape
    for i in range(cfg["num_hidden_layers"]):
        L = lambda n: f"gpt_neox.layers.{i}.{n}"
        lin = lambda u, n: u @ p[L(n) + ".weight"].T + p[L(n) + ".bias"]
        qkv = lin(ln(x, L("input_layernorm")), "attention.query_key_value").view(b, t, H, 3 * hd).transpose(1, 2)
        q, k, v = qkv.chunk(3, dim=-1)
        q, k = rope(q, cfg, rot), rope(k, cfg, rot)
        z = attend(q, k, v, hd ** -0.5, None)
        a = lin(z.transpose(1, 2).reshape(b, t, D), "attention.dense")
        mlp = lambda u: lin(torch.nn.functional.gelu(lin(u, "mlp.dense_h_to_4h")), "mlp.dense_4h_to_h")
        if cfg["use_parallel_residual"]:
            x = mlp(ln(x, L("post_attention_layernorm"))) + a + x
        else:
            a = a + x
            x = mlp(ln(a, L("post_attention_layernorm"))) + a
    return ln(x, "gpt_neox.final_layer_norm") @ p["embed_out.weight"].T


def neox_shapes(cfg):
    D, F = cfg["hidden_size"], cfg["intermediate_size"]
    s = {"gpt_neox.embed_in.weight": (V, D), "embed_out.weight": (V, D),
         "gpt_neox.final_layer_norm.weight": (D,), "gpt_neox.final_layer_norm.bias": (D,)}
    for i in range(cfg["num_hidden_layers"]):
        n = lambda x: f"gpt_neox.layers.{i}.{x}"
        for ln in ("input_layernorm", "post_attention_layernorm"):
            s[n(ln + ".weight")], s[n(ln + ".bias")] = (D,), (D,)
        s[n("attention.query_key_value.weight")], s[n("attention.query_key_value.bias")] = (3 * D, D), (3 * D,)
        s[n("attention.dense.weight")], s[n("attention.dense.bias")] = (D, D), (D,)
        s[n("mlp.dense_h_to_4h.weight")], s[n("mlp.dense_h_to_4h.bias")] = (F, D), (F,)
        s[n("mlp.dense_4h_to_h.weight")], s[n("mlp.dense_4h_to_h.bias")] = (D, F), (D,)
    return s


# --- GPT-2 (Conv1D weights [in, out]) ------------------------------------------------------

def gpt2(cfg, p, ids, lora=None):
    """lora: {module: (A, B, scale)} applied unmerged as PEFT's Conv1D forward: x·W + b + s·(x·Aᵀ)·Bᵀ."""
    lora = lora or {}
    D, H = cfg["n_embd"], cfg["n_head"]
    hd = D // H
    eps = cfg["layer_norm_epsilon"]
    ln = lambda x, n: torch.nn.functional.layer_norm(x, (D,), p[n + ".weight"], p[n + ".bias"], eps)
    b, t = ids.shape
    x = p["transformer.wte.weight"][ids] + p["transformer.wpe.weight"][:t]
    for i in range(cfg["n_layer"]):
        def conv(u, n, i=i):
            m = f"transformer.h.{i}.{n}"
            y = u @ p[m + ".weight"] + p[m + ".bias"]
            if m in lora:
                a, b_, s = lora[m]
                y = y + s * ((u @ a.T) @ b_.T)
            return y
        qkv = conv(ln(x, f"transformer.h.{i}.ln_1"), "attn.c_attn")
        q, k, v = (z.view(b, t, H, hd).transpose(1, 2) for z in qkv.split(D, dim=2))
        scale = hd ** -0.5 / ((i + 1) if cfg.get("scale_attn_by_inverse_layer_idx") else 1)
        z = attend(q, k, v, scale, None)
        x = x + conv(z.transpose(1, 2).reshape(b, t, D), "attn.c_proj")
        x = x + conv(gelu_tanh(conv(ln(x, f"transformer.h.{i}.ln_2"), "mlp.c_fc")), "mlp.c_proj")
    return ln(x, "transformer.ln_f") @ p["transformer.wte.weight"].T


def gpt2_shapes(cfg):
    D, F = cfg["n_embd"], 4 * cfg["n_embd"]
    s = {"transformer.wte.weight": (V, D), "transformer.wpe.weight": (cfg["n_positions"], D),
         "transformer.ln_f.weight": (D,), "transformer.ln_f.bias": (D,)}
    for i in range(cfg["n_layer"]):
        n = lambda x: f"transformer.h.{i}.{x}"
        for ln in ("ln_1", "ln_2"):
            s[n(ln + ".weight")], s[n(ln + ".bias")] = (D,), (D,)
        s[n("attn.c_attn.weight")], s[n("attn.c_attn.bias")] = (D, 3 * D), (3 * D,)
        s[n("attn.c_proj.weight")], s[n("attn.c_proj.bias")] = (D, D), (D,)
        s[n("mlp.c_fc.weight")], s[n("mlp.c_fc.bias")] = (D, F), (F,)
        s[n("mlp.c_proj.weight")], s[n("mlp.c_proj.bias")] = (F, D), (D,)
    return s


GPT2 = dict(model_type="gpt2", architectures=["GPT2LMHeadModel"], vocab_size=V, n_embd=32, n_layer=3, n_head=4, n_positions=64,
            layer_norm_epsilon=1e-5, activation_function="gelu_new", tie_word_embeddings=True, reorder_and_upcast_attn=True,
            scale_attn_by_inverse_layer_idx=True, bos_token_id=50256, eos_token_id=50256, transformers_version="5.17.0")


BASE = dict(vocab_size=V, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-6, tie_word_embeddings=False,
            bos_token_id=1, eos_token_id=2, pad_token_id=None, dtype="float32", transformers_version="5.17.0",
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0})


def fx(model_type, arch, **kw):
    c = dict(BASE, model_type=model_type, architectures=[arch])
    c.update(kw)
    return c


FIXTURES = {
    "t_qwen2_swa": fx("qwen2", "Qwen2ForCausalLM", use_sliding_window=True, sliding_window=6, max_window_layers=1,
                      layer_types=["full_attention", "sliding_attention"]),
    "t_mistral_swa": fx("mistral", "MistralForCausalLM", head_dim=12, sliding_window=5),
    "t_gemma": fx("gemma", "GemmaForCausalLM", num_key_value_heads=1, head_dim=16, hidden_activation="gelu_pytorch_tanh",
                  tie_word_embeddings=True),
    "t_gemma2": fx("gemma2", "Gemma2ForCausalLM", head_dim=16, sliding_window=6, query_pre_attn_scalar=24,
                   attn_logit_softcapping=2.0, final_logit_softcapping=3.0, hidden_activation="gelu_pytorch_tanh",
                   tie_word_embeddings=True, layer_types=["sliding_attention", "full_attention"]),
    "t_phi3": fx("phi3", "Phi3ForCausalLM", partial_rotary_factor=0.5),
    "t_llama_options": fx("llama", "LlamaForCausalLM", head_dim=12, attention_bias=True, mlp_bias=True),
    "t_llama_rope_linear": fx("llama", "LlamaForCausalLM", num_attention_heads=2, num_key_value_heads=1,
                              rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}),
    "t_llama_rope_dynamic": fx("llama", "LlamaForCausalLM", num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=16,
                               rope_parameters={"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0}),
    "t_llama_rope_llama3": fx("llama", "LlamaForCausalLM", num_attention_heads=2, num_key_value_heads=1,
                              rope_parameters={"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                               "original_max_position_embeddings": 64, "rope_theta": 10000.0}),
    "t_llama_rope_yarn": fx("llama", "LlamaForCausalLM", num_attention_heads=2, num_key_value_heads=1,
                            rope_parameters={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16,
                                             "beta_fast": 32.0, "beta_slow": 1.0, "rope_theta": 10000.0}),
    "t_gpt2_inverse_layer_idx": GPT2,
    "t_gpt_neox_parallel": dict(model_type="gpt_neox", architectures=["GPTNeoXForCausalLM"], vocab_size=V, hidden_size=32,
                                intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=64,
                                layer_norm_eps=1e-5, use_parallel_residual=True, attention_bias=True, hidden_act="gelu",
                                tie_word_embeddings=False, bos_token_id=0, eos_token_id=2,
                                rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25}),
    "t_gpt_neox_sequential": dict(model_type="gpt_neox", architectures=["GPTNeoXForCausalLM"], vocab_size=V, hidden_size=32,
                                  intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=64,
                                  layer_norm_eps=1e-5, use_parallel_residual=False, attention_bias=True, hidden_act="gelu",
                                  tie_word_embeddings=False,
                                  rope_parameters={"rope_type": "default", "rope_theta": 500.0, "partial_rotary_factor": 0.5}),
}


# PEFT LoRA adapters beside a base Llama: name, base config, adapter_config.json, modules.
LORAS = {
    "t_lora_llama": (fx("llama", "LlamaForCausalLM"),
                     {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 4, "lora_alpha": 8, "use_rslora": False,
                      "target_modules": ["q_proj", "v_proj", "down_proj"], "lora_dropout": 0.0, "bias": "none",
                      "fan_in_fan_out": False, "modules_to_save": None, "base_model_name_or_path": "t_lora_llama",
                      "inference_mode": True, "init_lora_weights": True, "use_dora": False, "rank_pattern": {},
                      "alpha_pattern": {}, "layers_to_transform": None, "layers_pattern": None, "revision": None},
                     ["self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj"]),
    "t_lora_llama_rslora_regex": (fx("llama", "LlamaForCausalLM", tie_word_embeddings=True),
                                  {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 4, "lora_alpha": 16, "use_rslora": True,
                                   "target_modules": r".*\.(k_proj|o_proj|up_proj)", "lora_dropout": 0.0, "bias": "none",
                                   "fan_in_fan_out": False, "modules_to_save": None},
                                  ["self_attn.k_proj", "self_attn.o_proj", "mlp.up_proj"]),
    "t_lora_gpt2_fan_in_fan_out": (dict(GPT2, scale_attn_by_inverse_layer_idx=False, reorder_and_upcast_attn=False),
                                   {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 2, "lora_alpha": 4, "use_rslora": False,
                                    "target_modules": ["c_attn", "c_fc", "c_proj"], "fan_in_fan_out": True, "lora_dropout": 0.0,
                                    "bias": "none", "modules_to_save": None},
                                   ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"]),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    for i, (name, cfg) in enumerate(sorted(FIXTURES.items())):
        d = os.path.join(args.out, name)
        os.makedirs(d, exist_ok=True)
        fwd, shp = {"gpt_neox": (neox, neox_shapes), "gpt2": (gpt2, gpt2_shapes)}.get(cfg["model_type"], (llama_like, llama_shapes))
        shapes = shp(cfg)
        p = rand_params(shapes, 100 + i, 0.0 if cfg["model_type"].startswith("gemma") else 1.0)
        ids = torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(200 + i))
        with torch.no_grad():
            logits = fwd(cfg, p, ids)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
        save_safetensors(os.path.join(d, "model.safetensors"), p, bf16=True)
        save_safetensors(d + ".reference.safetensors", {"ids": ids.float(), "logits": logits})
        print(name, tuple(logits.shape), float(logits.abs().max()))
    for i, (name, (cfg, acfg, mods)) in enumerate(sorted(LORAS.items())):
        d = os.path.join(args.out, name)
        os.makedirs(d, exist_ok=True)
        is_gpt2 = cfg["model_type"] == "gpt2"
        shapes = gpt2_shapes(cfg) if is_gpt2 else llama_shapes(cfg)
        p = rand_params(shapes, 300 + i, 1.0)
        root = "transformer.h" if is_gpt2 else "model.layers"
        nl = cfg["n_layer"] if is_gpt2 else cfg["num_hidden_layers"]
        g = torch.Generator().manual_seed(400 + i)
        r = acfg["r"]
        scale = acfg["lora_alpha"] / (math.sqrt(r) if acfg["use_rslora"] else r)
        lora, tensors = {}, {}
        for layer in range(nl):
            for m in mods:
                out_dim, in_dim = shapes[f"{root}.{layer}.{m}.weight"]
                if is_gpt2:  # Conv1D stores [in, out]
                    out_dim, in_dim = in_dim, out_dim
                a, b = 0.1 * torch.randn(r, in_dim, generator=g), 0.1 * torch.randn(out_dim, r, generator=g)
                lora[f"{root}.{layer}.{m}"] = (a, b, scale)
                tensors[f"base_model.model.{root}.{layer}.{m}.lora_A.weight"] = a
                tensors[f"base_model.model.{root}.{layer}.{m}.lora_B.weight"] = b
        ids = torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(500 + i))
        with torch.no_grad():
            fwd = gpt2 if is_gpt2 else llama_like
            logits = fwd(cfg, p, ids, lora)
            base = fwd(cfg, p, ids)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
        with open(os.path.join(d, "adapter_config.json"), "w") as f:
            json.dump(acfg, f, indent=2, sort_keys=True)
        save_safetensors(os.path.join(d, "model.safetensors"), p, bf16=True)
        save_safetensors(os.path.join(d, "adapter_model.safetensors"), tensors)
        save_safetensors(d + ".reference.safetensors", {"ids": ids.float(), "logits": logits, "base_logits": base})
        print(name, float((logits - base).abs().max()))


if __name__ == "__main__":
    main()
