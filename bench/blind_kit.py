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
import time
import traceback

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


def held_ce(model, held, windows=64):
    """Mean next-token cross-entropy (nats) of model on the first windows·SEQ held-out bytes, cut
    into windows of SEQ (the positions nanoscope's diagnosis reads first), on the CPU in float32."""
    x = torch.tensor(held[:windows * SEQ].astype(np.int64)).view(windows, SEQ)
    model.to("cpu").float().eval()
    with torch.no_grad():
        return model(input_ids=x, labels=x).loss.item()


def reload(d):
    """The saved checkpoint as transformers serves it (float32, eager attention)."""
    from transformers import AutoModelForCausalLM
    return AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager")


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
        if k == "partial_rotary_factor":  # GPT-NeoX, Phi-3: inside rope_parameters (and rotary_pct where written)
            c["rope_parameters"][k] = v
            if "rotary_pct" in c:
                c["rotary_pct"] = v
        elif k == "rope_theta":
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
    ap.add_argument("--set", choices=["first", "held_out", "third", "fourth"], default="first",
                    help="first: the kit the diagnosis was checked on; held_out: other seeds, sizes and faults, kept for a blind check; "
                         "fourth: the families of issue 24 (see fourth's docstring)")
    ap.add_argument("--kits", default="", help="4: the same as --set fourth")
    a = ap.parse_args()
    if a.kits:
        a.set = {"1": "first", "2": "held_out", "3": "third", "4": "fourth"}[a.kits]
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    data, held = corpus()
    os.makedirs(a.out, exist_ok=True)
    held.astype("<u4").tofile(os.path.join(a.out, "eval.bin"))
    kit = []

    def emit(name, model, kind="", convention="", note="", post=None, seed=1, steps=None, measure=False, **extra):
        """Train model (or a callable that builds it), save it to out/name, apply post to the saved
        directory. With measure (kit 4): the whole build is wrapped, a failure recorded as kind
        "failed" with its traceback, and the held-out CE measured twice — the trained model as it
        sits in memory (its true convention) and the saved files reloaded by transformers."""
        if not measure:
            torch.manual_seed(seed)
            loss = train(model, data, steps or a.steps, seed, dev) if steps != 0 else None
            d = os.path.join(a.out, name)
            model.save_pretrained(d, safe_serialization=True)
            if post:
                post(d)
            kit.append(dict(name=name, kind=kind, convention=convention, note=note, loss=loss))
            print(name, kind, convention, loss, flush=True)
            return
        t0 = time.time()
        rec = dict(name=name, kind=kind, convention=convention, note=note, **extra)
        try:
            if not isinstance(model, torch.nn.Module):
                model = model()
            torch.manual_seed(seed)
            rec["loss"] = train(model, data, steps or a.steps, seed, dev) if steps != 0 else None
            rec["ce_true"] = held_ce(model, held)
            d = os.path.join(a.out, name)
            model.save_pretrained(d, safe_serialization=True)
            if post:
                post(d)
            try:
                rec["ce_saved"] = held_ce(reload(d), held)
                rec["ce_excess"] = rec["ce_saved"] - rec["ce_true"]
            except Exception as e:  # transformers itself cannot load what was saved: say so
                rec["reload_error"] = repr(e)[:500]
        except Exception:
            traceback.print_exc()
            rec.update(kind="failed", truth_kind=kind, error=traceback.format_exc()[-2000:])
        rec["seconds"] = round(time.time() - t0, 1)
        kit.append(rec)
        print(json.dumps({k: v for k, v in rec.items() if k not in ("error", "note")}), flush=True)

    def mk(cls, cfg, seed):
        torch.manual_seed(seed)
        return cls(cfg)

    if a.set in ("held_out", "third", "fourth"):
        t0 = time.time()
        {"held_out": held_out, "third": third, "fourth": fourth}[a.set](a, emit, mk)
        json.dump(kit, open(os.path.join(a.out, "kit.json"), "w"), indent=2)
        if a.set == "fourth":
            import transformers
            json.dump(dict(torch=torch.__version__, transformers=transformers.__version__, device=dev, steps=a.steps,
                           seconds=round(time.time() - t0, 1), failed=[r["name"] for r in kit if r["kind"] == "failed"]),
                      open(os.path.join(a.out, "kit_meta.json"), "w"), indent=2)
            print("kit 4:", round(time.time() - t0, 1), "s;", "failed:", [r["name"] for r in kit if r["kind"] == "failed"], flush=True)
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


def edit_keys(d, pick, fn):
    """Apply fn(name, tensor) → tensor to every tensor of d's model.safetensors whose name
    pick(name) selects; an edit that matches no tensor raises (the fault would be absent)."""
    def edit(t):
        names = [k for k in t if pick(k)]
        if not names:
            raise KeyError(f"{d}: no tensor selected among {sorted(t)[:8]}...")
        for k in names:
            t[k] = fn(k, t[k]).contiguous()
    edit_tensors(d, edit)


def swap_keys(d, pairs):
    """Exchange the tensors of each (name_a, name_b) (a converter that mixed up two names)."""
    def fn(t):
        for x, y in pairs:
            if x not in t or y not in t:
                raise KeyError(f"{d}: {x} or {y} not saved")
            t[x], t[y] = t[y].clone(), t[x].clone()
    edit_tensors(d, fn)


def fourth(a, emit, mk):
    """A fourth kit, on the families of issue 24 (Qwen2, Qwen3, Mistral, Gemma, Gemma 2, Phi-3,
    GPT-NeoX), none of which a blind kit had touched: 21 checkpoints, each trained by transformers'
    own class with the same recipe as the kits above (AdamW, 800 steps of 32 windows of 64 bytes),
    written before the diagnosis is run and not to be tuned on.

    - 7 healthy controls, one per family, of different seeds, widths, depths and heads;
    - 8 conventions the training used and the saved config.json (or layout) does not say: a rope
      base, GPT-NeoX's rotary share and its fused QKV saved as q|k|v blocks, Gemma 2's
      query_pre_attn_scalar, a sliding window on a model trained without one, q/k rows in the
      interleaved rotary layout, an attention scale of 1/head_dim, Gemma's norm weights saved as
      the multiplier itself (w) where Gemma applies 1 + w;
    - 1 catalog kind (a layer's MLP left at its initialiser);
    - 4 conversion mistakes no convention of our space names: Phi-3's fused qkv_proj in k|q|v
      order, Qwen3's q_norm and k_norm exchanged, Gemma 2's post-attention and post-feedforward
      norms exchanged, GPT-NeoX's embedding and head rows shifted by one id (a vocabulary offset);
    - tied embeddings saved untied with a stale (freshly drawn) lm_head.
    kit.json holds per checkpoint the truth ("kind", "convention"; "also" lists other answers that
    are right), ce_true (held-out CE of the model as trained, in its true convention), ce_saved (the
    saved files as transformers serves them) and ce_excess; a build that raises is recorded as
    kind "failed" and the others go on. Expected time on one H100: about 4 minutes (≈ 10 s a model);
    output ≈ 10 MB (float32).
    """
    from transformers import (Gemma2Config, Gemma2ForCausalLM, GemmaConfig, GemmaForCausalLM, GPTNeoXConfig,
                              GPTNeoXForCausalLM, MistralConfig, MistralForCausalLM, Phi3Config, Phi3ForCausalLM,
                              Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM)

    def rope(theta=10000.0, **kw):
        return dict(rope_type="default", rope_theta=theta, **kw)

    def base(**kw):
        b = dict(vocab_size=256, hidden_size=64, intermediate_size=172, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=SEQ, attn_implementation="eager")
        b.update(kw)
        return b

    def qwen2(theta=10000.0, **kw):
        return Qwen2Config(rope_parameters=rope(theta), **base(**dict(dict(rms_norm_eps=1e-6, tie_word_embeddings=False), **kw)))

    def qwen3(**kw):
        return Qwen3Config(rope_parameters=rope(), **base(**dict(dict(head_dim=16, rms_norm_eps=1e-6, tie_word_embeddings=False), **kw)))

    def mistral(**kw):
        return MistralConfig(rope_parameters=rope(), **base(**dict(dict(rms_norm_eps=1e-5, tie_word_embeddings=False, sliding_window=None), **kw)))

    def gemma(**kw):
        return GemmaConfig(rope_parameters=rope(), **base(**dict(dict(head_dim=16, intermediate_size=128, rms_norm_eps=1e-6), **kw)))

    def gemma2(**kw):
        return Gemma2Config(rope_parameters=rope(), **base(**dict(dict(head_dim=16, intermediate_size=128, num_hidden_layers=3,
                                                                        rms_norm_eps=1e-6, sliding_window=16, query_pre_attn_scalar=16,
                                                                        attn_logit_softcapping=50.0, final_logit_softcapping=30.0), **kw)))

    def phi3(**kw):
        return Phi3Config(rope_parameters=rope(partial_rotary_factor=1.0),
                          **base(**dict(dict(num_key_value_heads=4, rms_norm_eps=1e-5, tie_word_embeddings=False,
                                             original_max_position_embeddings=SEQ, bos_token_id=1, eos_token_id=2,
                                             pad_token_id=None), **kw)))

    def neox(pct=0.25, **kw):
        b = base(**dict(dict(intermediate_size=256, layer_norm_eps=1e-5, use_parallel_residual=True,
                             tie_word_embeddings=False), **kw))
        b.pop("num_key_value_heads")
        return GPTNeoXConfig(rope_parameters=rope(partial_rotary_factor=pct), **b)

    m = dict(measure=True)
    # Healthy controls: one per family.
    emit("k4_qwen2_healthy_s61", lambda: mk(Qwen2ForCausalLM, qwen2(theta=1e6), 61), seed=61, **m)
    emit("k4_qwen3_healthy_hd24_tied_s62", lambda: mk(Qwen3ForCausalLM, qwen3(head_dim=24, tie_word_embeddings=True), 62), seed=62, **m)
    emit("k4_mistral_healthy_win32_s63", lambda: mk(MistralForCausalLM, mistral(sliding_window=32, num_key_value_heads=1), 63), seed=63, **m)
    emit("k4_gemma_healthy_s64", lambda: mk(GemmaForCausalLM, gemma(), 64), seed=64, **m)
    emit("k4_gemma2_healthy_s65", lambda: mk(Gemma2ForCausalLM, gemma2(), 65), seed=65, **m)
    emit("k4_phi3_healthy_3l_s66", lambda: mk(Phi3ForCausalLM, phi3(num_hidden_layers=3, hidden_size=96, num_attention_heads=6,
                                                                  num_key_value_heads=6, intermediate_size=256), 66), seed=66, **m)
    emit("k4_gpt_neox_healthy_s67", lambda: mk(GPTNeoXForCausalLM, neox(), 67), seed=67, **m)

    # Trained under one convention, saved saying another.
    emit("k4_qwen2_theta1e6_saved1e4", lambda: mk(Qwen2ForCausalLM, qwen2(theta=1e6), 68), kind="convention_mismatch",
         convention="rope_theta", post=lambda d: set_config(d, rope_theta=10000.0), seed=68,
         note="trained with rope_theta 1e6 (Qwen2's own), config.json says 1e4", **m)
    emit("k4_gpt_neox_rotary1_saved0.25", lambda: mk(GPTNeoXForCausalLM, neox(pct=1.0), 69), kind="convention_mismatch",
         convention="rotary_pct", post=lambda d: set_config(d, partial_rotary_factor=0.25), seed=69,
         note="trained rotating the whole head (partial_rotary_factor 1), config.json says 0.25 (Pythia's)", **m)
    emit("k4_gemma2_qpas16_saved256", lambda: mk(Gemma2ForCausalLM, gemma2(), 70), kind="convention_mismatch",
         convention="query_pre_attn_scalar", also=["convention_mismatch:attn_scale"],
         post=lambda d: set_config(d, query_pre_attn_scalar=256), seed=70,
         note="trained with query_pre_attn_scalar 16 (= head_dim), config.json says 256 (gemma-2's default)", **m)
    emit("k4_mistral_full_saved_win8", lambda: mk(MistralForCausalLM, mistral(sliding_window=None), 71), kind="convention_mismatch",
         convention="sliding_window", post=lambda d: set_config(d, sliding_window=8), seed=71,
         note="trained with full attention, config.json says sliding_window 8", **m)

    def phi3_inv_head_dim():
        mod = mk(Phi3ForCausalLM, phi3(), 72)
        for layer in mod.model.layers:
            if not hasattr(layer.self_attn, "scaling"):
                raise AttributeError("Phi3Attention has no scaling attribute: the fault would be absent")
            layer.self_attn.scaling = 1.0 / layer.self_attn.head_dim
        return mod
    emit("k4_phi3_attn_inv_head_dim", phi3_inv_head_dim, kind="convention_mismatch", convention="attn_scale", seed=72,
         note="trained with scores scaled by 1/head_dim (muP), saved as a plain Phi-3 (1/sqrt(head_dim))", **m)

    # Conversion mistakes on trained weights, of kinds the space has.
    def neox_blocks(d):
        heads, hd = 4, 16
        def fn(k, w):  # per head q|k|v (GPT-NeoX's) → q|k|v blocks of all heads
            if w.dim() == 2:
                return w.view(heads, 3, hd, -1).transpose(0, 1).reshape(3 * heads * hd, -1)
            return w.view(heads, 3, hd).transpose(0, 1).reshape(-1)
        edit_keys(d, lambda k: "attention.query_key_value." in k, fn)
    emit("k4_gpt_neox_qkv_blocks", lambda: mk(GPTNeoXForCausalLM, neox(), 73), kind="convention_mismatch", convention="qkv_split",
         post=neox_blocks, seed=73, note="query_key_value weight and bias saved as q|k|v blocks instead of per head", **m)

    def qwen3_meta(d):
        q_heads, kv_heads, hd = 4, 2, 16
        def fn(k, w):
            if k.endswith("q_proj.weight"):
                return interleave_rows(w, q_heads)
            if k.endswith("k_proj.weight"):
                return interleave_rows(w, kv_heads)
            return w.view(2, hd // 2).t().reshape(hd)  # q_norm/k_norm follow the same permutation
        edit_keys(d, lambda k: k.endswith(("q_proj.weight", "k_proj.weight", "q_norm.weight", "k_norm.weight")), fn)
    emit("k4_qwen3_qk_interleaved", lambda: mk(Qwen3ForCausalLM, qwen3(), 74), kind="rope_layout", convention="rope_pairing",
         post=qwen3_meta, seed=74, note="q_proj/k_proj rows (and q_norm/k_norm) in the interleaved rotary layout, config says rotate_half", **m)

    def gemma_norm_w(d):  # the trainer's RMSNorm multiplied by w; Gemma's multiplies by 1 + w
        edit_keys(d, lambda k: k.endswith("norm.weight"), lambda k, w: w + 1.0)
    emit("k4_gemma_norm_saved_as_multiplier", lambda: mk(GemmaForCausalLM, gemma(), 75), kind="convention_mismatch",
         convention="norm_weight", post=gemma_norm_w, seed=75,
         note="norm weights saved as the multiplier itself (1 + w_gemma) where Gemma applies 1 + w", **m)

    def mistral_fresh_mlp(d):
        fresh = mk(MistralForCausalLM, mistral(), 99).state_dict()
        edit_keys(d, lambda k: k.startswith("model.layers.1.mlp."), lambda k, w: fresh[k].clone())
    emit("k4_mistral_layer1_mlp_not_loaded", lambda: mk(MistralForCausalLM, mistral(), 76), kind="tensors_untrained",
         post=mistral_fresh_mlp, seed=76, note="layer 1's gate/up/down_proj at transformers' initialiser", **m)

    # Conversion mistakes the space has no convention for: any honest not-healthy answer.
    def phi3_kqv(d):
        def fn(k, w):
            q, kk, v = w.chunk(3, dim=0)
            return torch.cat([kk, q, v], dim=0)
        edit_keys(d, lambda k: k.endswith("qkv_proj.weight"), fn)
    emit("k4_phi3_qkv_kqv", lambda: mk(Phi3ForCausalLM, phi3(), 77), kind="unexplained", also=["convention_mismatch:qkv_order"],
         post=phi3_kqv, seed=77, note="fused qkv_proj rows saved k|q|v (heads = kv heads, so the shapes hold)", **m)

    def qwen3_norms_swapped(d):
        swap_keys(d, [(f"model.layers.{i}.self_attn.q_norm.weight", f"model.layers.{i}.self_attn.k_norm.weight") for i in range(2)])
    emit("k4_qwen3_qk_norm_swapped", lambda: mk(Qwen3ForCausalLM, qwen3(), 78), kind="unexplained", post=qwen3_norms_swapped, seed=78,
         note="q_norm and k_norm exchanged in every layer", **m)

    def gemma2_post_swapped(d):
        swap_keys(d, [(f"model.layers.{i}.post_attention_layernorm.weight", f"model.layers.{i}.post_feedforward_layernorm.weight")
                      for i in range(3)])
    # "also" added after the placement search (2026-12-07): the exchange is what that search names.
    emit("k4_gemma2_post_norms_swapped", lambda: mk(Gemma2ForCausalLM, gemma2(), 79), kind="unexplained", post=gemma2_post_swapped,
         also=["tensors_misplaced:tensor_mapping"],
         seed=79, note="post_attention_layernorm and post_feedforward_layernorm exchanged in every layer (sandwich norms mis-mapped)", **m)

    def neox_ids_shifted(d):
        edit_keys(d, lambda k: k.endswith(("embed_in.weight", "embed_out.weight")), lambda k, w: torch.roll(w, 1, dims=0))
    emit("k4_gpt_neox_vocab_offset1", lambda: mk(GPTNeoXForCausalLM, neox(pct=0.5, use_parallel_residual=False), 80), kind="unexplained",
         post=neox_ids_shifted, seed=80,
         note="embed_in and embed_out rows shifted by one id (a converter that inserted a special token at 0); sequential residual, rotary 0.5", **m)

    def stale_head(d):
        set_config(d, tie_word_embeddings=False)
        g = torch.Generator().manual_seed(81)
        def fn(t):  # (replaces an lm_head.weight the save may have written beside the embedding)
            t["lm_head.weight"] = (0.02 * torch.randn(t["model.embed_tokens.weight"].shape, generator=g)).contiguous()
        edit_tensors(d, fn)
    emit("k4_qwen2_tied_saved_untied_stale_head", lambda: mk(Qwen2ForCausalLM, qwen2(tie_word_embeddings=True), 81),
         kind="tensors_untrained", also=["convention_mismatch:tied_head"], post=stale_head, seed=81,
         note="trained tied; saved with tie_word_embeddings false and an lm_head.weight drawn fresh (N(0, 0.02))", **m)


if __name__ == "__main__":
    main()
