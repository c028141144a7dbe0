#!/usr/bin/env python3
"""Independent numpy reference of the investigated model's forward pass (REFERENCE.md §2).

Regenerate the fixtures from the module root (/work/main) with Debian's numpy:

    apt-get install -y python3-numpy        # if needed
    /usr/bin/python3 gomlxmodel/testdata/reference/reference_model.py

It writes, for each configuration in CONFIGS, a checkpoint directory
gomlxmodel/testdata/reference/<name>/ holding

  model.safetensors    F32 tensors under the candle names, written by write_safetensors below
                       (8-byte little-endian header length, JSON header padded with spaces to a
                       multiple of 8, names sorted, data in the same order)
  meta.json            {"config": {every TrainConfig field, as serde_json writes them},
                        "step": N, "loss": L} -- no "nanoscope" field, i.e. the original model
                        (ternary BitLinear + mHC-lite)
  expected_logits.json {"tokens": [[...], [...]], "logits": [B*T*V floats, row-major],
                        "near_boundary": [[bool per position], ...],
                        "near_boundary_dev": [[float per position], ...], ...} (see below)

The forward pass is written from the text of REFERENCE.md §2 alone (not from the Go code), in
float32 arithmetic like candle: BitLinear with per-group absmean ternary weights (zero padding
over the row-major flattening) and per-token absmax 8-bit activations, rounding half away from
zero, straight-through forms w + (q - w) and x + (x_q - x) evaluated as written; RMSNorm eps 1e-6;
RoPE in the "halves" layout; GQA where query head h reads kv head h mod n_kv_heads; SwiGLU;
mHC-lite with two streams; the head is a plain float matmul with tok_embed (tied) or lm_head.

near_boundary: the 8-bit activation rounding is discontinuous, so two correct float32
implementations whose sums differ in the last bits can round an element differently when
v = x*127/a lies within a hair of k+0.5, and one such flip moves logits by up to ~0.5 -- at its
own position and, through k and v in attention, at every later position of the sequence. Measured
here, |v| differs by at most ~1.5e-4 between this script and the same script with reversed
float32 summation (and ~1.2e-4 against a float64 run; printed as "f32-f64 |dv|"). So every
element with |frac(|v|) - 0.5| <= NEAR_ABS (3e-4) is a candidate; the forward pass is re-run
with each candidate rounded the other way, and with all of them flipped at once, and a position
is near_boundary when one of these runs moves one of its logits by more than SENSITIVITY (1e-5)
relative. near_boundary_dev is the largest |logit change| those runs gave at the position
(0 elsewhere). Only at near_boundary positions may a correct implementation differ from
"logits" by more than float rounding (~1e-5 relative).

A flat threshold (e.g. "within 1e-3 of k+0.5") is not usable: at 1e-3 there are ~0.8 candidate
elements per position, and their flips reach almost every later position, so nearly all
positions would be excused.

Draws: for each configuration the script tries ATTEMPTS seeded draws (parameters and tokens),
rejects fragile ones -- a ternary |w/s| within 1e-5 relative of 0.5 or 1.5, an argmax lead
over the runner-up below 1e-3 relative, or an argmax that changes under a candidate flip --
and keeps the one with the fewest near_boundary positions. Everything is seeded; the output is
reproducible byte for byte on one machine (another BLAS may change the last bits of logits).
"""

import json
import math
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

# Distance of x*127/a to k+0.5 below which an activation element is a rounding candidate.
NEAR_ABS = 3e-4
# A candidate's flip taints the positions whose logits it moves by more than this (relative).
SENSITIVITY = 1e-5
# Draws tried per configuration; the one with the fewest tainted positions is kept.
ATTEMPTS = 200
# Weights: |w/s| this close (relative) to 0.5 or 1.5 is rejected (re-draw).
WEIGHT_REL = 1e-5

# The training fields of the d20 preset (REFERENCE.md §2); they do not affect the forward pass
# but meta.json must carry every TrainConfig field.
TRAIN_FIELDS = [
    ("lr", 0.02),
    ("mhc_lr", 1e-4),
    ("weight_decay", 0.0),
    ("batch_size", 32),
    ("grad_accum_steps", 1),
    ("warmup_steps", 100),
    ("total_steps", 5000),
    ("decay_start_frac", 0.8),
    ("grad_clip", 1.0),
    ("ns_steps", 5),
    ("muon_momentum", 0.95),
    ("lion_betas", [0.9, 0.99]),
]

CONFIGS = [
    # GQA (4 query heads on 2 kv heads); group 24 divides no row of width 32, so groups span rows
    # and the last group of every weight is zero-padded.
    dict(name="tied_mhc", seed=1, dim=32, n_layers=2, n_heads=4, n_kv_heads=2,
         ffn_mult=2.6875, vocab_size=61, max_seq_len=12, group_size=24, weight_tied=True),
    dict(name="untied_mhc", seed=2, dim=32, n_layers=2, n_heads=4, n_kv_heads=4,
         ffn_mult=2.6875, vocab_size=61, max_seq_len=12, group_size=24, weight_tied=False),
    # d20's shape ratios: n_kv_heads = n_heads, group 128 (> dim: a group spans rows), ffn_dim
    # rounded up to a multiple of 128.
    dict(name="tied_mhc_d20like", seed=3, dim=64, n_layers=2, n_heads=4, n_kv_heads=4,
         ffn_mult=2.6875, vocab_size=101, max_seq_len=16, group_size=128, weight_tied=True),
]


def ffn_dim(c):
    return int(math.ceil(c["dim"] * c["ffn_mult"] / c["group_size"])) * c["group_size"]


def train_config(c):
    """The TrainConfig object in the field order of REFERENCE.md §2."""
    out = {}
    for k in ["dim", "n_layers", "n_heads", "n_kv_heads", "ffn_mult", "vocab_size",
              "max_seq_len", "group_size"]:
        out[k] = c[k]
    out["mhc_n_streams"] = 2
    out["weight_tied"] = c["weight_tied"]
    out["rope_theta"] = 10000.0
    for k, v in TRAIN_FIELDS:
        out[k] = v
    return out


# ----------------------------------------------------------------------------------------------
# Parameters


def tensor_shapes(c):
    d, h, hkv = c["dim"], c["n_heads"], c["n_kv_heads"]
    hd, f, v = d // h, ffn_dim(c), c["vocab_size"]
    m = {"tok_embed.weight": (v, d), "norm_final.weight": (d,)}
    if not c["weight_tied"]:
        m["lm_head.weight"] = (v, d)
    for i in range(c["n_layers"]):
        p = "blocks.%d." % i
        for mhc in ("mhc_attn", "mhc_ffn"):
            m[p + mhc + ".alpha_logit"] = (1,)
            for n in ("pre_logits", "pre_bias", "post_logits", "post_bias"):
                m[p + mhc + "." + n] = (2,)
        m[p + "norm_attn.weight"] = (d,)
        m[p + "norm_ffn.weight"] = (d,)
        m[p + "attn.wq.weight"] = (h * hd, d)
        m[p + "attn.wk.weight"] = (hkv * hd, d)
        m[p + "attn.wv.weight"] = (hkv * hd, d)
        m[p + "attn.wo.weight"] = (d, h * hd)
        m[p + "ffn.w_gate.weight"] = (f, d)
        m[p + "ffn.w_up.weight"] = (f, d)
        m[p + "ffn.w_down.weight"] = (d, f)
    return m


def draw_params(c, rng):
    """Random parameters from (scaled) init distributions, with every symmetric init broken."""
    p = {}
    for name in sorted(tensor_shapes(c)):
        shape = tensor_shapes(c)[name]
        if name == "tok_embed.weight":
            a = rng.normal(0.0, 1.0, shape)  # candle's embedding init
        elif name.endswith("norm_attn.weight") or name.endswith("norm_ffn.weight") \
                or name == "norm_final.weight":
            a = 1.0 + rng.normal(0.0, 0.1, shape)
        elif ".mhc_" in name:
            a = rng.normal(0.0, 1.0, shape)  # alpha_logit, pre/post logits and biases
        else:
            a = rng.normal(0.0, 0.2, shape)  # linears (init 0.02, scaled up so layers matter)
        p[name] = a.astype(np.float32)
    return p


# ----------------------------------------------------------------------------------------------
# Forward pass (dtype dt: float32 like candle, or float64 to measure float32's error)


def round_half_away(v):
    """Rust's f32::round: half away from zero, exactly (no v+0.5 rounding error)."""
    t = np.trunc(v)
    frac = v - t  # exact
    return t + np.where(np.abs(frac) >= 0.5, np.sign(v), 0).astype(v.dtype)


class Trace:
    """Records every activation quantisation of one forward pass: the values v = x*127/a, and the
    elements within NEAR_ABS of a rounding boundary ("candidates", as (site, b, t, j) with site
    the call number of the quantisation). Elements listed in flips are rounded the other way."""

    def __init__(self, flips=()):
        self.site = 0
        self.v = []
        self.candidates = []
        self.flips = set(flips)

    def round(self, v):  # v: [B, T, n] -> round_half_away(v), with the flips applied
        site, self.site = self.site, self.site + 1
        self.v.append(v)
        av = np.abs(v).astype(np.float64)
        dist = np.abs(av - np.floor(av) - 0.5)
        for idx in np.argwhere(dist <= NEAR_ABS):
            self.candidates.append((site,) + tuple(int(i) for i in idx))
        r = round_half_away(v)
        for s, b, t, j in self.flips:
            if s == site:
                lo, hi = np.floor(v[b, t, j]), np.ceil(v[b, t, j])
                r[b, t, j] = lo if r[b, t, j] == hi else hi
        return r


def quant_weight(w, gs, dt):
    """Ternary weight: flatten [out,in] row-major, zero-pad to a multiple of gs, per group
    s = max(mean|w|, 1e-8), q = clamp(round(w/s), -1, 1)*s; returns w + (q - w)."""
    flat = w.reshape(-1).astype(dt)
    n = flat.size
    pad = (-n) % gs
    g = np.concatenate([flat, np.zeros(pad, dt)]).reshape(-1, gs)
    s = np.maximum(np.abs(g).sum(axis=1, keepdims=True) * dt(1.0 / gs), dt(1e-8))
    q = np.clip(round_half_away(g / s), -1, 1) * s
    q = q.reshape(-1)[:n].reshape(w.shape)
    wd = w.astype(dt)
    return wd + (q - wd), (g / s).reshape(-1)[:n]


def quant_act(x, dt, trace):
    """8-bit activation, per token: a = max(max|x|, 1e-8), x_q = clamp(round(x*127/a)) * a/127;
    returns x + (x_q - x)."""
    a = np.maximum(np.abs(x).max(axis=-1, keepdims=True), dt(1e-8))
    v = (x * dt(127.0)) / a
    xq = (np.clip(trace.round(v), -127, 127) * a) * dt(1.0 / 127.0)
    return x + (xq - x)


def bitlinear(x, w, c, dt, trace):
    wq, _ = quant_weight(w, c["group_size"], dt)
    return quant_act(x, dt, trace) @ wq.T


def rms_norm(x, w, dt):
    ms = (x * x).mean(axis=-1, keepdims=True)
    return x / np.sqrt(ms + dt(1e-6)) * w.astype(dt)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def rope_tables(t, hd, theta, dt):
    half = hd // 2
    i = np.arange(half, dtype=dt)
    freqs = dt(1.0) / (dt(theta) ** (dt(2.0) * i / dt(hd)))  # 1/theta^(2i/hd), i < hd/2
    ang = np.arange(t, dtype=dt)[:, None] * freqs[None, :]  # [T, hd/2]
    return np.cos(ang), np.sin(ang)


def rope(x, cos, sin):
    """Halves layout: x = [x1 | x2] over head_dim; [x1 cos - x2 sin | x2 cos + x1 sin]."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


def attention(u, p, pre, c, dt, trace):
    b, t, d = u.shape
    h, hkv = c["n_heads"], c["n_kv_heads"]
    hd = d // h
    q = bitlinear(u, p[pre + "wq.weight"], c, dt, trace)  # [B,T,H*hd]
    k = bitlinear(u, p[pre + "wk.weight"], c, dt, trace)  # [B,T,Hkv*hd]
    v = bitlinear(u, p[pre + "wv.weight"], c, dt, trace)
    q = q.reshape(b, t, h, hd).transpose(0, 2, 1, 3)  # [B,H,T,hd]
    k = k.reshape(b, t, hkv, hd).transpose(0, 2, 1, 3)  # [B,Hkv,T,hd]
    v = v.reshape(b, t, hkv, hd).transpose(0, 2, 1, 3)
    cos, sin = rope_tables(t, hd, 10000.0, dt)
    q, k = rope(q, cos, sin), rope(k, cos, sin)
    # GQA, candle repeat: query head h uses kv head h mod n_kv_heads (tiling, not interleaving)
    kv_of = np.arange(h) % hkv
    k, v = k[:, kv_of], v[:, kv_of]  # [B,H,T,hd]
    scores = (q @ k.transpose(0, 1, 3, 2)) * dt(1.0 / math.sqrt(hd))  # [B,H,T,T]
    mask = np.triu(np.ones((t, t), dtype=bool), k=1)
    scores = np.where(mask, dt(-np.inf), scores)
    scores = scores - scores.max(axis=-1, keepdims=True)
    e = np.exp(scores)
    att = e / e.sum(axis=-1, keepdims=True)
    y = (att @ v).transpose(0, 2, 1, 3).reshape(b, t, h * hd)  # [B,T,H*hd]
    return bitlinear(y, p[pre + "wo.weight"], c, dt, trace)  # [B,T,D]


def ffn(u, p, pre, c, dt, trace):
    g = bitlinear(u, p[pre + "w_gate.weight"], c, dt, trace)  # [B,T,F]
    up = bitlinear(u, p[pre + "w_up.weight"], c, dt, trace)
    return bitlinear(g * sigmoid(g) * up, p[pre + "w_down.weight"], c, dt, trace)  # [B,T,D]


def mhc_sublayer(s0, s1, p, mhc, norm, fn, dt):
    """mHC-lite n=2: prepare (mix the streams, RMSNorm), fn, apply (add back, mix with alpha)."""
    f = lambda n: p[mhc + "." + n].astype(dt)
    h_pre = sigmoid(f("pre_logits") + f("pre_bias"))
    u = h_pre[0] * s0 + h_pre[1] * s1
    y = fn(rms_norm(u, p[norm], dt))
    h_post = 2 * sigmoid(f("post_logits") + f("post_bias"))
    r0 = s0 + h_post[0] * y
    r1 = s1 + h_post[1] * y
    alpha = sigmoid(f("alpha_logit"))  # [1]: a 1-element array keeps numpy 1.x in float32
    return alpha * r0 + (1 - alpha) * r1, (1 - alpha) * r0 + alpha * r1


def forward(p, c, ids, dt, flips=()):
    ids = np.asarray(ids)
    trace = Trace(flips)
    x = p["tok_embed.weight"].astype(dt)[ids]  # [B,T,D]
    s0, s1 = x, x.copy()  # expand: concat(x, x) on the last axis
    for i in range(c["n_layers"]):
        pre = "blocks.%d." % i
        s0, s1 = mhc_sublayer(s0, s1, p, pre + "mhc_attn", pre + "norm_attn.weight",
                              lambda u: attention(u, p, pre + "attn.", c, dt, trace), dt)
        s0, s1 = mhc_sublayer(s0, s1, p, pre + "mhc_ffn", pre + "norm_ffn.weight",
                              lambda u: ffn(u, p, pre + "ffn.", c, dt, trace), dt)
    x = (s0 + s1) * dt(0.5)  # collapse
    x = rms_norm(x, p["norm_final.weight"], dt)
    head = p["tok_embed.weight" if c["weight_tied"] else "lm_head.weight"].astype(dt)
    logits = x @ head.T  # [B,T,V], plain float (not BitLinear)
    assert logits.dtype == dt, logits.dtype
    return logits, trace


# ----------------------------------------------------------------------------------------------
# Files


def write_safetensors(path, tensors):
    names = sorted(tensors)
    header, blobs, off = {}, [], 0
    for n in names:
        a = np.ascontiguousarray(tensors[n], dtype="<f4")
        b = a.tobytes()
        header[n] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-len(h)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def f32_json(x):
    """The shortest decimal that reads back as this float32."""
    return float(np.format_float_positional(np.float32(x), unique=True, trim="-"))


def weight_margin(p, c):
    """Smallest relative distance of a ternary |w/s| to a rounding boundary (0.5 or 1.5)."""
    worst = np.inf
    for name, w in p.items():
        if w.ndim == 2 and name not in ("tok_embed.weight", "lm_head.weight"):
            _, r = quant_weight(w, c["group_size"], np.float64)
            r = np.abs(r)
            for boundary in (0.5, 1.5):
                worst = min(worst, float((np.abs(r - boundary) / boundary).min()))
    return worst


def rel_dev(a, b):
    """Per position: max over the vocabulary of |a-b| / max(1, |b|)."""
    return (np.abs(a - b) / np.maximum(1.0, np.abs(b))).max(axis=-1)


def try_draw(c, attempt):
    """One candidate fixture, or None when it is fragile (see the module comment)."""
    rng = np.random.default_rng([c["seed"], attempt])
    p = draw_params(c, rng)
    wmargin = weight_margin(p, c)
    if wmargin < WEIGHT_REL:
        return None
    ids = rng.integers(0, c["vocab_size"], size=(2, c["max_seq_len"]))
    logits, trace = forward(p, c, ids, np.float32)
    srt = np.sort(logits, axis=-1)
    gap = srt[..., -1] - srt[..., -2]
    if (gap < 1e-3 * np.maximum(1.0, np.abs(srt[..., -1]))).any():
        return None
    argmax = logits.argmax(axis=-1)
    # Taint: the positions whose logits move (> SENSITIVITY relative) when candidate elements
    # are rounded the other way, one at a time and all together.
    taint = np.zeros(ids.shape, dtype=bool)
    dev = np.zeros(ids.shape)
    runs = [[e] for e in trace.candidates]
    if len(trace.candidates) > 1:
        runs.append(trace.candidates)
    for flips in runs:
        alt, _ = forward(p, c, ids, np.float32, flips)
        if (alt.argmax(axis=-1) != argmax).any():
            return None
        moved = rel_dev(alt, logits) > SENSITIVITY
        taint |= moved
        dev = np.maximum(dev, np.where(moved, np.abs(alt - logits).max(axis=-1), 0.0))
    # float32 error, measured against float64 (elements both round alike) -- for the record.
    ref64, trace64 = forward(p, c, ids, np.float64)
    verr = max(float(np.abs(a - b)[round_half_away(a.astype(np.float64)) == round_half_away(b)].max())
               for a, b in zip(trace.v, trace64.v))
    return dict(params=p, ids=ids, logits=logits, taint=taint, dev=dev, attempt=attempt,
                candidates=len(trace.candidates), weight_margin=wmargin, min_gap=float(gap.min()),
                v_err64=verr, logit_err64=float(rel_dev(logits, ref64)[~taint].max(initial=0.0)))


def generate(c):
    """The draw with the most untainted positions among ATTEMPTS robust ones."""
    best = None
    for attempt in range(ATTEMPTS):
        g = try_draw(c, attempt)
        if g is not None and (best is None or g["taint"].sum() < best["taint"].sum()):
            best = g
    if best is None:
        sys.exit("%s: no robust draw in %d attempts" % (c["name"], ATTEMPTS))
    return best


def main():
    for c in CONFIGS:
        g = generate(c)
        out = os.path.join(HERE, c["name"])
        os.makedirs(out, exist_ok=True)
        write_safetensors(os.path.join(out, "model.safetensors"), g["params"])
        meta = {"config": train_config(c), "step": 1234, "loss": 3.29}
        with open(os.path.join(out, "meta.json"), "w") as f:
            json.dump(meta, f, indent=2)
            f.write("\n")
        exp = {
            "generator": "gomlxmodel/testdata/reference/reference_model.py",
            "draw": g["attempt"],
            "near_abs": NEAR_ABS,
            "candidates": g["candidates"],
            "tokens": g["ids"].tolist(),
            "argmax": g["logits"].argmax(axis=-1).tolist(),
            "near_boundary": g["taint"].tolist(),
            "near_boundary_dev": [[f32_json(x) for x in row] for row in g["dev"]],
            "logits": [f32_json(x) for x in g["logits"].reshape(-1)],
        }
        with open(os.path.join(out, "expected_logits.json"), "w") as f:
            json.dump(exp, f, separators=(",", ":"))
            f.write("\n")
        size = sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out))
        print("%-17s draw %2d  %6d bytes  candidates %2d  near-boundary positions %2d/%d "
              "(max flip dev %.3f)  weight margin %.1e  min top-2 gap %.3g  "
              "f32-f64: |dv| %.1e, logits rel %.1e" % (
                  c["name"], g["attempt"], size, g["candidates"], int(g["taint"].sum()),
                  g["taint"].size, g["dev"].max(), g["weight_margin"], g["min_gap"],
                  g["v_err64"], g["logit_err64"]))


if __name__ == "__main__":
    main()
