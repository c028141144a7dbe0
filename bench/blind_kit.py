#!/usr/bin/env python3
"""Write a kit of checkpoints with transformers, each healthy or with a known fault, to try the
diagnosis on files nanoscope's own code did not write (issue 20).

Runs where PyTorch and transformers 5 are installed (the lent GPU machine):

    python3 bench/blind_kit.py --out /tmp/kit

Every model is trained by transformers itself (AdamW, byte-level next-token prediction on the
Python standard library's sources, windows of 64 = max_position_embeddings), then saved with
save_pretrained. A fault is either a training run under another convention than the saved
config says (trained with one rope_theta, saved with another; attention unscaled; embeddings
scaled by √d; a Mistral with a sliding window saved as a Llama), or a conversion mistake applied
to the saved tensors (GPT-2's fused q/k/v blocks in another order; Llama q/k rows in Meta's
interleaved rotary layout; a tensor left at its initialisation). kit.json records, per checkpoint,
the truth: the kind nanoscope should name ("" healthy) and, for a convention, which. eval.bin is
held-out text (files not trained on) as little-endian u32 byte ids.

The reference forward is transformers' own; nothing here is nanoscope code.
"""

import argparse
import glob
import json
import math
import os
import sysconfig

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from transformers import (GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM,
                          MistralConfig, MistralForCausalLM)

SEQ = 64


def corpus():
    files = sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "**", "*.py"), recursive=True))
    train, held = b"", b""
    for i, p in enumerate(files):
        with open(p, "rb") as f:
            b = f.read()
        if i % 10 == 0:
            held += b
        else:
            train += b
        if len(train) > 4_000_000 and len(held) > 200_000:
            break
    return torch.tensor(list(train), dtype=torch.long), np.frombuffer(held[:100_000], dtype=np.uint8)


def train(model, data, steps, seed, device, lr=3e-3, batch=32):
    g = torch.Generator().manual_seed(seed)
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 50) * max(0.1, 1 - s / steps))
    for step in range(steps):
        starts = torch.randint(0, len(data) - SEQ - 1, (batch,), generator=g)
        x = torch.stack([data[s:s + SEQ] for s in starts]).to(device)
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
    model.to("cpu").eval()
    return loss.item()


def llama_cfg(**kw):
    base = dict(vocab_size=256, hidden_size=64, intermediate_size=172, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=SEQ,
                rms_norm_eps=1e-5, tie_word_embeddings=False, attn_implementation="eager")
    theta = kw.pop("rope_theta", 10000.0)
    base.update(kw)
    return LlamaConfig(rope_parameters={"rope_type": "default", "rope_theta": theta}, **base)


def gpt2_cfg(**kw):
    base = dict(vocab_size=256, n_positions=SEQ, n_embd=64, n_layer=2, n_head=4, attn_implementation="eager")
    base.update(kw)
    return GPT2Config(**base)


def set_config(d, **kv):
    """Rewrite keys of d/config.json (what a converter that forgot the training value writes)."""
    p = os.path.join(d, "config.json")
    c = json.load(open(p))
    for k, v in kv.items():
        if k == "rope_theta":
            c["rope_parameters"]["rope_theta"] = v
        elif k == "rope_parameters":
            c["rope_parameters"] = v
        else:
            c[k] = v
    json.dump(c, open(p, "w"), indent=2)


def edit_tensors(d, fn):
    p = os.path.join(d, "model.safetensors")
    t = load_file(p)
    fn(t)
    save_file(t, p, metadata={"format": "pt"})


def interleave_rows(w, heads):
    """q/k rows of one head from Hugging Face's rotate_half layout to Meta's interleaved one:
    the inverse of transformers' convert_llama_weights_to_hf permute (a converter that skipped it)."""
    out, hd = w.shape[0], w.shape[0] // heads
    return w.view(heads, 2, hd // 2, -1).transpose(1, 2).reshape(out, -1)


def qkv_order(order):
    """A converter that writes GPT-2's fused c_attn blocks in another order ("kqv": k | q | v)."""
    def post(d):
        def fn(t):
            for k in list(t):
                if "c_attn" in k:
                    parts = dict(zip("qkv", t[k].chunk(3, dim=-1)))
                    t[k] = torch.cat([parts[r] for r in order], dim=-1).contiguous()
        edit_tensors(d, fn)
    return post


def meta_layout(q_heads, kv_heads):
    """A converter that left q_proj/k_proj rows in Meta's interleaved rotary layout."""
    def post(d):
        def fn(t):
            for k in list(t):
                if k.endswith("q_proj.weight"):
                    t[k] = interleave_rows(t[k], q_heads).contiguous()
                elif k.endswith("k_proj.weight"):
                    t[k] = interleave_rows(t[k], kv_heads).contiguous()
        edit_tensors(d, fn)
    return post


def as_llama(d):
    """Rewrite d's config as a Llama's of the same sizes (full attention): a Mistral converted
    as a Llama, its sliding window forgotten."""
    c = json.load(open(os.path.join(d, "config.json")))
    keep = llama_cfg().to_dict()
    keep["rope_parameters"] = c.get("rope_parameters", keep["rope_parameters"])
    keep.pop("attn_implementation", None)
    json.dump({k: v for k, v in keep.items() if not k.startswith("_")} | {"architectures": ["LlamaForCausalLM"], "model_type": "llama"},
              open(os.path.join(d, "config.json"), "w"), indent=2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--set", choices=["first", "held_out", "third"], default="first",
                    help="first: the kit the diagnosis was checked on; held_out: other seeds, sizes and faults, kept for a blind check")
    a = ap.parse_args()
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    data, held = corpus()
    os.makedirs(a.out, exist_ok=True)
    held.astype("<u4").tofile(os.path.join(a.out, "eval.bin"))
    kit = []

    def emit(name, model, kind="", convention="", note="", post=None, seed=1, steps=None):
        torch.manual_seed(seed)
        loss = train(model, data, steps or a.steps, seed, dev) if steps != 0 else None
        d = os.path.join(a.out, name)
        model.save_pretrained(d, safe_serialization=True)
        if post:
            post(d)
        kit.append(dict(name=name, kind=kind, convention=convention, note=note, loss=loss))
        print(name, kind, convention, loss, flush=True)

    def mk(cls, cfg, seed):
        torch.manual_seed(seed)
        return cls(cfg)

    if a.set in ("held_out", "third"):
        {"held_out": held_out, "third": third}[a.set](a, emit, mk)
        json.dump(kit, open(os.path.join(a.out, "kit.json"), "w"), indent=2)
        return
    # Healthy controls: two families, two seeds, another size and initialiser range.
    emit("llama_healthy_s1", mk(LlamaForCausalLM, llama_cfg(), 1), seed=1)
    emit("llama_healthy_wide_init0.05_s2", mk(LlamaForCausalLM, llama_cfg(hidden_size=96, intermediate_size=256, num_hidden_layers=3,
                                                                    num_attention_heads=6, num_key_value_heads=3, initializer_range=0.05,
                                                                    tie_word_embeddings=True), 2), seed=2)
    emit("gpt2_healthy_s1", mk(GPT2LMHeadModel, gpt2_cfg(), 1), seed=1)
    emit("gpt2_healthy_untied_s3", mk(GPT2LMHeadModel, gpt2_cfg(tie_word_embeddings=False, n_embd=96, n_head=6, n_layer=3), 3), seed=3)
    emit("llama_undertrained_s4", mk(LlamaForCausalLM, llama_cfg(), 4), seed=4, steps=120, note="healthy, 120 steps only")
    # Fresh weights.
    emit("llama_fresh", mk(LlamaForCausalLM, llama_cfg(), 5), kind="weights_untrained", steps=0)
    # Convention faults: trained one way, saved saying another.
    emit("llama_theta1e5_saved1e4", mk(LlamaForCausalLM, llama_cfg(rope_theta=1e5), 6), kind="convention_mismatch", convention="rope_theta",
         post=lambda d: set_config(d, rope_theta=10000.0), seed=6)
    # transformers 5.17's GPT-2 ignores scale_attn_weights (measured: flipping it changes no
    # logit), so the attention-scale fault is a Llama trained with 1/head_dim.
    m = mk(LlamaForCausalLM, llama_cfg(), 7)
    for layer in m.model.layers:
        layer.self_attn.scaling = 1.0 / layer.self_attn.head_dim
    emit("llama_attn_inv_head_dim", m, kind="convention_mismatch", convention="attn_scale", seed=7)
    m = mk(LlamaForCausalLM, llama_cfg(), 8)
    emb = m.model.embed_tokens
    emb.register_forward_hook(lambda mod, inp, out: out * math.sqrt(64))
    emit("llama_embed_scaled", m, kind="convention_mismatch", convention="embed_scale", seed=8)
    # Conversion mistakes on trained weights.
    emit("gpt2_qkv_swapped", mk(GPT2LMHeadModel, gpt2_cfg(), 9), kind="convention_mismatch", convention="qkv_order", post=qkv_order("kqv"), seed=9)

    emit("llama_qk_meta_layout", mk(LlamaForCausalLM, llama_cfg(), 10), kind="rope_layout", convention="rope_pairing", post=meta_layout(4, 2), seed=10)

    def fresh_mlp(d):
        fresh = LlamaForCausalLM(llama_cfg()).state_dict()
        def fn(t):
            for k in list(t):
                if k.startswith("model.layers.1.mlp."):
                    t[k] = fresh[k].contiguous()
        edit_tensors(d, fn)
    emit("llama_layer1_mlp_not_loaded", mk(LlamaForCausalLM, llama_cfg(), 11), kind="tensors_untrained", post=fresh_mlp, seed=11)
    # A kind no issue names: a Mistral trained with a sliding window of 16, saved as a Llama
    # (full attention): nanoscope should not call it healthy, nor give it a wrong kind.
    mc = MistralConfig(vocab_size=256, hidden_size=64, intermediate_size=172, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, max_position_embeddings=SEQ, rms_norm_eps=1e-5, sliding_window=16,
                       tie_word_embeddings=False, attn_implementation="eager")
    emit("mistral_window16_as_llama", mk(MistralForCausalLM, mc, 12), kind="unexplained", note="any not-healthy, no named kind", post=as_llama, seed=12)

    json.dump(kit, open(os.path.join(a.out, "kit.json"), "w"), indent=2)


def held_out(a, emit, mk):
    """Other seeds, sizes, learning rates and faults, some of kinds nanoscope has no name for."""
    big = dict(hidden_size=96, intermediate_size=256, num_hidden_layers=3, num_attention_heads=6, num_key_value_heads=3)
    emit("h_llama_healthy_s21", mk(LlamaForCausalLM, llama_cfg(**big), 21), seed=21)
    emit("h_gpt2_healthy_s22", mk(GPT2LMHeadModel, gpt2_cfg(n_embd=96, n_head=6, n_layer=3), 22), seed=22)
    emit("h_llama_healthy_tied_s23", mk(LlamaForCausalLM, llama_cfg(tie_word_embeddings=True, num_key_value_heads=4), 23), seed=23)
    emit("h_llama_theta5e5_saved1e4", mk(LlamaForCausalLM, llama_cfg(rope_theta=5e5, **big), 24), kind="convention_mismatch", convention="rope_theta",
         post=lambda d: set_config(d, rope_theta=10000.0), seed=24)

    emit("h_gpt2_qkv_vqk", mk(GPT2LMHeadModel, gpt2_cfg(n_embd=96, n_head=6, n_layer=3), 25), kind="convention_mismatch", convention="qkv_order", post=qkv_order("vqk"), seed=25)

    emit("h_llama_qk_meta_layout_big", mk(LlamaForCausalLM, llama_cfg(**big), 26), kind="rope_layout", convention="rope_pairing", post=meta_layout(6, 3), seed=26)

    def norm_ones(d):
        def fn(t):
            t["model.norm.weight"] = torch.ones_like(t["model.norm.weight"])
        edit_tensors(d, fn)
    emit("h_llama_final_norm_not_loaded", mk(LlamaForCausalLM, llama_cfg(), 27), kind="tensors_untrained", post=norm_ones, seed=27)

    def fresh_attn(d):
        fresh = GPT2LMHeadModel(gpt2_cfg()).state_dict()
        def fn(t):
            for k in list(t):
                if k.startswith("transformer.h.0.attn.c_attn"):
                    t[k] = fresh[k].contiguous()
        edit_tensors(d, fn)
    emit("h_gpt2_layer0_attn_not_loaded", mk(GPT2LMHeadModel, gpt2_cfg(), 28), kind="tensors_untrained", post=fresh_attn, seed=28)

    m = mk(GPT2LMHeadModel, gpt2_cfg(), 29)
    m.transformer.wte.register_forward_hook(lambda mod, inp, out: out * math.sqrt(64))
    emit("h_gpt2_embed_scaled", m, kind="convention_mismatch", convention="embed_scale", seed=29)

    m = mk(LlamaForCausalLM, llama_cfg(), 30)
    for layer in m.model.layers:
        layer.self_attn.scaling = 1.0
    emit("h_llama_attn_unscaled", m, kind="convention_mismatch", convention="attn_scale", seed=30)

    # Kinds nanoscope has no name for: not healthy, no wrong kind.
    m = mk(LlamaForCausalLM, llama_cfg(rms_norm_eps=1.0), 31)
    emit("h_llama_norm_eps1_saved1e-5", m, kind="unexplained", post=lambda d: set_config(d, rms_norm_eps=1e-5), seed=31,
         note="trained with rms_norm_eps 1.0")
    mc = MistralConfig(vocab_size=256, hidden_size=64, intermediate_size=172, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, max_position_embeddings=SEQ, rms_norm_eps=1e-5, sliding_window=8,
                       tie_word_embeddings=False, attn_implementation="eager")
    emit("h_mistral_window8_as_llama", mk(MistralForCausalLM, mc, 32), kind="unexplained", post=as_llama, seed=32)


def third(a, emit, mk):
    """A third kit, diagnosed once after the rules were last changed (no tuning on it)."""
    big = dict(hidden_size=128, intermediate_size=344, num_hidden_layers=3, num_attention_heads=8, num_key_value_heads=2)
    emit("t_llama_healthy_gqa4_s41", mk(LlamaForCausalLM, llama_cfg(**big), 41), seed=41)
    emit("t_gpt2_healthy_wide_s42", mk(GPT2LMHeadModel, gpt2_cfg(n_embd=128, n_head=8, n_layer=4), 42), seed=42)
    emit("t_llama_healthy_s43", mk(LlamaForCausalLM, llama_cfg(), 43), seed=43)
    emit("t_llama_theta1e6_saved1e4", mk(LlamaForCausalLM, llama_cfg(rope_theta=1e6, **big), 44), kind="convention_mismatch", convention="rope_theta",
         post=lambda d: set_config(d, rope_theta=10000.0), seed=44)
    cfg = llama_cfg()
    cfg.rope_parameters = {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}
    emit("t_llama_linear2_saved_default", mk(LlamaForCausalLM, cfg, 45), kind="convention_mismatch", convention="rope_scaling",
         post=lambda d: set_config(d, rope_parameters={"rope_type": "default", "rope_theta": 10000.0}), seed=45)

    emit("t_gpt2_qkv_qvk", mk(GPT2LMHeadModel, gpt2_cfg(), 46), kind="convention_mismatch", convention="qkv_order", post=qkv_order("qvk"), seed=46)

    def gqa_tiled(d):
        # query head h = g·n_rep + r reads kv head g (repeat_kv); reorder the query heads so that
        # head h' = r·n_kv + g holds it: run with repeat_kv, each head reads kv h' mod n_kv.
        H, KV, hd = 8, 2, 16
        perm = [0] * H
        for g in range(KV):
            for r in range(H // KV):
                perm[r * KV + g] = g * (H // KV) + r
        def fn(t):
            for k in list(t):
                if k.endswith("q_proj.weight"):
                    t[k] = t[k].view(H, hd, -1)[perm].reshape(H * hd, -1).contiguous()
                elif k.endswith("o_proj.weight"):
                    t[k] = t[k].view(-1, H, hd)[:, perm].reshape(-1, H * hd).contiguous()
        edit_tensors(d, fn)
    emit("t_llama_gqa_tiled", mk(LlamaForCausalLM, llama_cfg(**big), 47), kind="gqa_mapping", convention="gqa_mapping", post=gqa_tiled, seed=47)

    def lnf_fresh(d):
        def fn(t):
            t["transformer.ln_f.weight"] = torch.ones_like(t["transformer.ln_f.weight"])
            t["transformer.ln_f.bias"] = torch.zeros_like(t["transformer.ln_f.bias"])
        edit_tensors(d, fn)
    emit("t_gpt2_ln_f_not_loaded", mk(GPT2LMHeadModel, gpt2_cfg(), 48), kind="tensors_untrained", post=lnf_fresh, seed=48)

    def attn0_fresh(d):
        fresh = LlamaForCausalLM(llama_cfg()).state_dict()
        def fn(t):
            for k in list(t):
                if k.startswith("model.layers.0.self_attn."):
                    t[k] = fresh[k].contiguous()
        edit_tensors(d, fn)
    emit("t_llama_layer0_attn_not_loaded", mk(LlamaForCausalLM, llama_cfg(), 49), kind="tensors_untrained", post=attn0_fresh, seed=49)

    def o_transposed(d):
        def fn(t):
            for k in list(t):
                if k.endswith("o_proj.weight"):
                    t[k] = t[k].t().contiguous()
        edit_tensors(d, fn)
    emit("t_llama_o_proj_transposed", mk(LlamaForCausalLM, llama_cfg(), 50), kind="unexplained", post=o_transposed, seed=50,
         note="a square weight saved transposed: no convention of the Llama space")


if __name__ == "__main__":
    main()
