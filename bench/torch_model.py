"""Our own PyTorch implementation of the investigated model (../shared/REFERENCE.md §2) and of
nanoscope's training step (gomlxmodel/train: Muon + Lion + global grad-norm clipping), for the
side-by-side benchmark of bench/ and for loss checks against the GoMLX implementation.

Written from REFERENCE.md §2 and mirroring gomlxmodel/ op for op where the order of float32
operations matters:

  BitLinear   y = Q_a(x) · Q_w(W)ᵀ, W stored [out, in], no bias. Both quantisers are straight-
              through, x + (q - x).detach().
              Q_w: flatten W row-major, zero-pad to a multiple of group_size, per group
              s = max(mean|w|, 1e-8), q = clamp(round(w/s), -1, 1)·s.
              Q_a: per token a = max(max|x|, 1e-8), q = clamp(round(x·127/a), -127, 127)·(a·f32(1/127)).
              round is half away from zero (Rust's f32::round): sign(x)·(floor|x| + [frac >= ½]).
              torch.round is half-to-even and is NOT used.
  RMSNorm     u / sqrt(mean(u²) + 1e-6) · w
  RoPE        "halves" layout: [x1·cos - x2·sin, x2·cos + x1·sin], angles t·f32(theta^(-2i/hd))
              computed in float32, their cos/sin in float64 then rounded, as gomlxmodel does.
  Attention   GQA by tiling (query head h reads kv head h mod n_kv_heads), scores·(1/sqrt(hd)) +
              causal -inf mask, softmax. With attn="sdpa" (torch >= 2) the same maths through
              F.scaled_dot_product_attention (a faster kernel, different summation order).
  FFN         SwiGLU w_down(silu(w_gate(u)) ⊙ w_up(u)), ffn_dim = ceil(D·ffn_mult/gs)·gs.
  mHC-lite    n = 2 streams: prepare h_pre = sigmoid(pre_logits + pre_bias), u = h_pre0·s0 + h_pre1·s1;
              apply h_post = 2·sigmoid(post_logits + post_bias), r_k = s_k + h_post_k·y,
              alpha = sigmoid(alpha_logit), s0' = alpha·r0 + (1-alpha)·r1, s1' = (1-alpha)·r0 + alpha·r1.
  Head        (s0 + s1)/2 → RMSNorm → x · tok_embedᵀ (tied) or x · lm_headᵀ; plain float product.
  Loss        0.9·CE + 0.1·(-mean over positions and vocabulary of log_softmax), and plain CE.

Optimizer (gomlxmodel/train/optim.go): global gradient norm over all parameters, scale
min(1, clip/(norm + 1e-6)); Muon for the 2-D attention/FFN weights (names with ".attn.w" or
".ffn.w_"): m ← μ·m + g, direction g + μ·m, 5 Newton–Schulz steps (3.4445, -4.7750, 2.0315) on the
wide orientation after dividing by (‖·‖_F + 1e-7), update scaled by sqrt(max(1, rows/cols)),
w ← w - lr·update; Lion for everything else (embedding, lm_head, norms, mHC): c = β1·m + (1-β1)·g,
w ← w - lr1d·sign(c), m ← β2·m + (1-β2)·g. The step also returns what the Go step returns to the
host each step: loss, CE, global and per-parameter gradient norms, activation RMS norms and
sigmoid(alpha_logit), so that the work per step is the same.

Runs on torch 1.13 (Debian python3-torch, CPU) and torch 2.x (CUDA, torch.compile). Needs no
package besides torch: the safetensors reader/writer below uses struct and json.
"""

import json
import math
import os
import struct

import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------
# Configuration (gomlxmodel/config/config.go)

TRAIN_CONFIG_FIELDS = [
    "dim", "n_layers", "n_heads", "n_kv_heads", "ffn_mult", "vocab_size", "max_seq_len",
    "group_size", "mhc_n_streams", "weight_tied", "rope_theta", "lr", "mhc_lr", "weight_decay",
    "batch_size", "grad_accum_steps", "warmup_steps", "total_steps", "decay_start_frac",
    "grad_clip", "ns_steps", "muon_momentum", "lion_betas",
]


def d20():
    """The original "d20" preset (REFERENCE.md §2), as config.D20()."""
    return dict(dim=256, n_layers=6, n_heads=4, n_kv_heads=4, ffn_mult=2.6875, vocab_size=50257,
                max_seq_len=256, group_size=128, mhc_n_streams=2, weight_tied=True,
                rope_theta=10000.0, lr=0.02, mhc_lr=1e-4, weight_decay=0.0, batch_size=32,
                grad_accum_steps=1, warmup_steps=100, total_steps=5000, decay_start_frac=0.8,
                grad_clip=1.0, ns_steps=5, muon_momentum=0.95, lion_betas=[0.9, 0.99])


def cpu():
    """nanoscope's "cpu" preset, as config.CPU()."""
    c = d20()
    c.update(dim=64, n_layers=2, n_heads=4, n_kv_heads=4, ffn_mult=2.0, max_seq_len=64,
             batch_size=16, vocab_size=2048, warmup_steps=20, total_steps=400, mhc_lr=1e-2)
    return c


def tiny_cpu():
    c = d20()
    c.update(n_layers=4, ffn_mult=2.0, vocab_size=4096)
    return c


PRESETS = {"d20": d20, "cpu": cpu, "tiny_cpu": tiny_cpu}


def default_variant():
    """config.DefaultVariant(): the original architecture and recipe."""
    return dict(ternary=True, mhc=True, target_shift=1, optimizer="muon-lion", seed=0)


def head_dim(c):
    return c["dim"] // c["n_heads"]


def ffn_dim(c):
    gs = c["group_size"]
    return int(math.ceil(c["dim"] * c["ffn_mult"] / gs)) * gs


def tensor_shapes(c, variant=None):
    """Every tensor of a checkpoint of c, by candle name, as config.TensorShapes."""
    v = variant or default_variant()
    d, hd, f = c["dim"], head_dim(c), ffn_dim(c)
    m = {"tok_embed.weight": (c["vocab_size"], d), "norm_final.weight": (d,)}
    if not c["weight_tied"]:
        m["lm_head.weight"] = (c["vocab_size"], d)
    for i in range(c["n_layers"]):
        p = "blocks.%d." % i
        if v.get("mhc", True):
            for mhc in ("mhc_attn", "mhc_ffn"):
                m[p + mhc + ".alpha_logit"] = (1,)
                for n in ("pre_logits", "pre_bias", "post_logits", "post_bias"):
                    m[p + mhc + "." + n] = (2,)
        m[p + "norm_attn.weight"] = (d,)
        m[p + "norm_ffn.weight"] = (d,)
        m[p + "attn.wq.weight"] = (c["n_heads"] * hd, d)
        m[p + "attn.wk.weight"] = (c["n_kv_heads"] * hd, d)
        m[p + "attn.wv.weight"] = (c["n_kv_heads"] * hd, d)
        m[p + "attn.wo.weight"] = (d, c["n_heads"] * hd)
        m[p + "ffn.w_gate.weight"] = (f, d)
        m[p + "ffn.w_up.weight"] = (f, d)
        m[p + "ffn.w_down.weight"] = (d, f)
    return m


# ---------------------------------------------------------------------------------------------
# Checkpoints: a directory with model.safetensors (F32, candle names) and meta.json


def read_safetensors(path):
    """name -> float32 CPU tensor. Only F32 (all our checkpoints hold); anything else is refused."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("%s: too short for a safetensors file" % path)
    (hlen,) = struct.unpack("<Q", raw[:8])
    if 8 + hlen > len(raw):
        raise ValueError("%s: header length %d exceeds the file" % (path, hlen))
    header = json.loads(raw[8:8 + hlen].decode("utf-8"))
    base = 8 + hlen
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if e["dtype"] != "F32":
            raise ValueError("%s: tensor %s has dtype %s, want F32" % (path, name, e["dtype"]))
        lo, hi = e["data_offsets"]
        n = 1
        for d in e["shape"]:
            n *= d
        if hi - lo != 4 * n or base + hi > len(raw):
            raise ValueError("%s: tensor %s: bad data offsets %s for shape %s" % (path, name, e["data_offsets"], e["shape"]))
        buf = bytearray(raw[base + lo:base + hi])  # a writable copy for torch.frombuffer
        t = torch.frombuffer(buf, dtype=torch.float32) if n > 0 else torch.zeros(0)
        out[name] = t.reshape(e["shape"]).clone()
    return out


def write_safetensors(path, tensors):
    """Names sorted, 8-byte little-endian header length, JSON header padded to 8 bytes."""
    names = sorted(tensors)
    header, blobs, off = {}, [], 0
    for n in names:
        t = tensors[n].detach().to("cpu", torch.float32).contiguous()
        b = t.numpy().tobytes() if hasattr(t, "numpy") else bytes(t.untyped_storage())
        header[n] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-len(h)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_checkpoint(directory):
    """(config, variant, params) of a checkpoint directory; the tensor set must match exactly."""
    with open(os.path.join(directory, "meta.json")) as f:
        meta = json.load(f)
    c = meta["config"]
    missing = [k for k in TRAIN_CONFIG_FIELDS if k not in c]
    if missing:
        raise ValueError("%s/meta.json: config lacks %s" % (directory, missing))
    v = default_variant()
    v.update(meta.get("nanoscope") or {})
    params = read_safetensors(os.path.join(directory, "model.safetensors"))
    want = tensor_shapes(c, v)
    if set(want) != set(params):
        raise ValueError("%s: tensors do not match the config: missing %s, unexpected %s" % (
            directory, sorted(set(want) - set(params)), sorted(set(params) - set(want))))
    for n, s in want.items():
        if tuple(params[n].shape) != tuple(s):
            raise ValueError("%s: tensor %s has shape %s, want %s" % (directory, n, tuple(params[n].shape), s))
    return c, v, params


# ---------------------------------------------------------------------------------------------
# Initialisation (distributions of gomlxmodel.InitOf; the values differ from Go's PCG streams)


def init_params(c, variant=None, seed=1, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape in sorted(tensor_shapes(c, variant).items()):
        if name == "tok_embed.weight":
            t = torch.randn(shape, generator=g)
        elif name.endswith(("alpha_logit", "pre_logits", "post_logits")):
            t = torch.zeros(shape)
        elif name.endswith(("pre_bias", "post_bias")):
            t = torch.full(shape, 0.5)
        elif name.endswith(("norm_attn.weight", "norm_ffn.weight")) or name == "norm_final.weight":
            t = torch.ones(shape)
        else:
            t = torch.randn(shape, generator=g) * 0.02
        out[name] = t.to(device)
    return out


# ---------------------------------------------------------------------------------------------
# Model


def round_half_away(x):
    """Round half away from zero, exactly: |x| = f + r with f = floor(|x|), then ±(f + [r >= ½])."""
    a = x.abs()
    f = a.floor()
    return torch.sign(x) * (f + (a - f >= 0.5).to(x.dtype))


def ste(x, q):
    """Forward q, backward identity."""
    return x + (q - x).detach()


def ternary_weights(w, gs):
    out, inp = w.shape
    n = out * inp
    pad = (-n) % gs
    flat = w.reshape(n)
    if pad:
        flat = torch.cat([flat, flat.new_zeros(pad)])
    g = flat.reshape(-1, gs)
    s = g.abs().mean(dim=-1, keepdim=True).clamp_min(1e-8)
    q = torch.clamp(round_half_away(g / s), -1.0, 1.0) * s
    return q.reshape(-1)[:n].reshape(out, inp)


INV127 = struct.unpack("<f", struct.pack("<f", 1.0 / 127.0))[0]  # float32(1/127), as candle


def int8_activations(x):
    a = x.abs().amax(dim=-1, keepdim=True).clamp_min(1e-8)
    q = torch.clamp(round_half_away((x * 127.0) / a), -127.0, 127.0)
    return q * (a * INV127)


def bitlinear(x, w, gs, ternary=True):
    if ternary:
        x = ste(x, int8_activations(x))
        w = ste(w, ternary_weights(w, gs))
    return torch.matmul(x, w.t())


def rms_norm(u, w):
    ms = (u * u).mean(dim=-1, keepdim=True)
    return u / torch.sqrt(ms + 1e-6) * w


def rope_tables(t, hd, theta, device="cpu", dtype=torch.float32):
    """cos, sin of shape (T, hd): the (T, hd/2) tables repeated over both halves."""
    half = hd // 2
    inv = torch.tensor([1.0 / theta ** (2.0 * i / hd) for i in range(half)], dtype=torch.float64).float()
    ang = torch.arange(t, dtype=torch.float32)[:, None] * inv[None, :]  # float32, as gomlxmodel
    cos, sin = torch.cos(ang.double()).float(), torch.sin(ang.double()).float()
    cos, sin = torch.cat([cos, cos], -1), torch.cat([sin, sin], -1)
    return cos.to(device, dtype), sin.to(device, dtype)


def apply_rope(x, cos, sin):
    """x (B, H, T, hd); cos, sin (T, hd). x·cos + rotate_half(x)·sin, rotate_half = [-x2, x1]."""
    half = x.shape[-1] // 2
    rot = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rot * sin


class Model:
    """The forward pass as a function of a dict of parameter tensors (no nn.Module, so that the
    same code serves training, loading and torch.compile)."""

    def __init__(self, c, variant=None, device="cpu", attn="math", dtype=torch.float32):
        self.c = c
        self.v = variant or default_variant()
        self.attn = attn
        t, hd = c["max_seq_len"], head_dim(c)
        self.device = device
        self.dtype = dtype
        self.cos, self.sin = rope_tables(t, hd, c["rope_theta"], device, dtype)
        mask = torch.triu(torch.full((t, t), float("-inf")), diagonal=1)
        self.mask = mask.to(device, dtype)
        self.kv_of = torch.arange(c["n_heads"], device=device) % c["n_kv_heads"]

    def linear(self, p, name, x):
        return bitlinear(x, p[name], self.c["group_size"], self.v["ternary"])

    def attention(self, p, pre, u):
        c = self.c
        b, t, _ = u.shape
        h, hkv, hd = c["n_heads"], c["n_kv_heads"], head_dim(c)
        q = self.linear(p, pre + "wq.weight", u).reshape(b, t, h, hd).transpose(1, 2)
        k = self.linear(p, pre + "wk.weight", u).reshape(b, t, hkv, hd).transpose(1, 2)
        v = self.linear(p, pre + "wv.weight", u).reshape(b, t, hkv, hd).transpose(1, 2)
        cos, sin = self.cos[:t], self.sin[:t]
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if hkv != h:  # candle's repeat tiles the kv heads: query head h reads kv head h mod hkv
            k, v = k[:, self.kv_of], v[:, self.kv_of]
        if self.attn == "sdpa":
            z = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(hd)) + self.mask[:t, :t]
            z = torch.matmul(torch.softmax(scores, dim=-1), v)
        z = z.transpose(1, 2).reshape(b, t, h * hd)
        return self.linear(p, pre + "wo.weight", z)

    def ffn(self, p, pre, u):
        g = self.linear(p, pre + "w_gate.weight", u)
        up = self.linear(p, pre + "w_up.weight", u)
        return self.linear(p, pre + "w_down.weight", g * torch.sigmoid(g) * up)

    def sub_block(self, p, pre, kind, s0, s1):
        norm = p[pre + "norm_" + kind + ".weight"]
        layer = (lambda u: self.attention(p, pre + "attn.", u)) if kind == "attn" else \
            (lambda u: self.ffn(p, pre + "ffn.", u))
        if not self.v["mhc"]:
            y = layer(rms_norm(s0, norm))
            return s0 + y, None, y
        m = pre + "mhc_" + kind + "."
        h_pre = torch.sigmoid(p[m + "pre_logits"] + p[m + "pre_bias"])
        u = h_pre[0] * s0 + h_pre[1] * s1
        y = layer(rms_norm(u, norm))
        h_post = torch.sigmoid(p[m + "post_logits"] + p[m + "post_bias"]) * 2.0
        alpha = torch.sigmoid(p[m + "alpha_logit"])[0]
        r0 = s0 + h_post[0] * y
        r1 = s1 + h_post[1] * y
        one_minus = 1.0 - alpha
        return alpha * r0 + one_minus * r1, one_minus * r0 + alpha * r1, y

    def forward(self, p, ids, acts=None):
        """ids (B, T) int64 → logits (B, T, V). acts, a list, receives per layer the tensors whose
        RMS the Go step reports: attn out, ffn out, stream 0 (and 1) after the block."""
        c = self.c
        x = F.embedding(ids, p["tok_embed.weight"])
        s0, s1 = x, (x if self.v["mhc"] else None)
        for i in range(c["n_layers"]):
            pre = "blocks.%d." % i
            s0, s1, ya = self.sub_block(p, pre, "attn", s0, s1)
            s0, s1, yf = self.sub_block(p, pre, "ffn", s0, s1)
            if acts is not None:
                acts.extend([ya, yf, s0] + ([s1] if s1 is not None else []))
        if self.v["mhc"]:
            x = (s0 + s1) / 2.0
        else:
            x = s0
        x = rms_norm(x, p["norm_final.weight"])
        head = p["tok_embed.weight" if c["weight_tied"] else "lm_head.weight"]
        return torch.matmul(x, head.t())


def loss_fn(logits, targets):
    """(label-smoothed loss 0.9·CE + 0.1·(-mean log p), plain CE), averaged over positions."""
    v = logits.shape[-1]
    logp = torch.log_softmax(logits.reshape(-1, v), dim=-1)
    ce = -logp.gather(1, targets.reshape(-1, 1)).mean()
    uniform = -logp.mean()
    return ce * 0.9 + uniform * 0.1, ce


def rms(x):
    return torch.sqrt((x * x).mean())


def make_loss_and_stats(model, names, alpha_names):
    """The differentiable part of the step: (loss, ce, activation RMS (A), sigmoid(alpha) (L))."""

    def f(plist, ids, targets):
        p = dict(zip(names, plist))
        acts = []
        logits = model.forward(p, ids, acts)
        loss, ce = loss_fn(logits, targets)
        act_norms = torch.stack([rms(a.detach()) for a in acts])
        if alpha_names:
            alphas = torch.sigmoid(torch.cat([p[n].detach() for n in alpha_names]))
        else:
            alphas = act_norms.new_zeros(0)
        return loss, ce, act_norms, alphas

    return f


# ---------------------------------------------------------------------------------------------
# Optimizer (gomlxmodel/train/optim.go) and schedule (train/schedule.go)

NS_COEFFS = (3.4445, -4.7750, 2.0315)
MIN_LR_FRAC = 0.1


def uses_muon(name):
    return ".attn.w" in name or ".ffn.w_" in name


def wsd(step, warmup, total, decay_start_frac):
    """Multiplier of the peak rate for 0-based step (train.WSD)."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    decay_start = int(decay_start_frac * total)
    if step < decay_start or total <= decay_start:
        return 1.0
    progress = min((step - decay_start) / max(1, total - 1 - decay_start), 1.0)
    return MIN_LR_FRAC + (1 - MIN_LR_FRAC) * 0.5 * (1 + math.cos(math.pi * progress))


def newton_schulz(g, steps):
    a, b, c = NS_COEFFS
    x = g / (torch.sqrt((g * g).sum()) + 1e-7)
    transposed = x.shape[0] > x.shape[1]
    if transposed:
        x = x.t()
    for _ in range(steps):
        aa = x @ x.t()
        bb = aa * b + (aa @ aa) * c
        x = x * a + bb @ x
    if transposed:
        x = x.t()
    return x


def make_optimizer_update(c, names):
    """The update applied after the gradients: clipping, Muon and Lion, in place on params and
    state. Returns f(params, grads, state, lr, lr1d) → (global grad norm, per-parameter norms)."""
    mu = c["muon_momentum"]
    b1, b2 = c["lion_betas"]
    clip, ns = c["grad_clip"], c["ns_steps"]
    wd = c["weight_decay"]
    muon = [uses_muon(n) for n in names]

    def update(params, grads, state, lr, lr1d):
        sq = [(g * g).sum() for g in grads]
        norms = torch.sqrt(torch.stack(sq))
        gnorm = torch.sqrt(torch.stack(sq).sum())
        if clip > 0:
            scale = torch.clamp(clip / (gnorm + 1e-6), max=1.0)
            grads = [g * scale for g in grads]
        for w, g, m, is_muon in zip(params, grads, state, muon):
            if is_muon:
                m.mul_(mu).add_(g)
                o = newton_schulz(g + m * mu, ns)
                rows, cols = w.shape
                upd = o * math.sqrt(rows / cols) if rows > cols else o
                if wd != 0:
                    upd = upd + w * wd
                w.sub_(lr * upd)
            else:  # Lion, no weight decay (as train.Trainer calls lionUpdate)
                cc = m * b1 + g * (1 - b1)
                m.mul_(b2).add_(g * (1 - b2))
                w.sub_(lr1d * torch.sign(cc))
        return gnorm, norms

    return update


class Trainer:
    """One training step = forward + loss + gradients + clipping + Muon/Lion, returning the same
    host values as the Go step. compile=True wraps the forward/loss and the optimizer update in
    torch.compile (torch >= 2)."""

    def __init__(self, c, variant=None, params=None, device="cpu", seed=1, compile=False,
                 compile_opt=True, attn="math", compile_mode=None):
        self.c = c
        self.v = variant or default_variant()
        self.device = device
        params = params if params is not None else init_params(c, self.v, seed, "cpu")
        self.names = sorted(tensor_shapes(c, self.v))
        self.params = [params[n].to(device, torch.float32).clone().requires_grad_(True) for n in self.names]
        self.state = [torch.zeros_like(p, requires_grad=False) for p in self.params]
        self.alpha_names = [n for n in self.names if n.endswith("alpha_logit")]
        # Go orders alphas as blocks.i.mhc_attn, blocks.i.mhc_ffn by layer; sorted names give the
        # same order for < 10 layers. Only reported values, so order is cosmetic.
        self.model = Model(c, self.v, device, attn)
        self.fwd = make_loss_and_stats(self.model, self.names, self.alpha_names)
        self.upd = make_optimizer_update(c, self.names)
        self.compiled = False
        self.opt_compiled = False
        if compile:
            kw = {"mode": compile_mode} if compile_mode else {}
            self.fwd = torch.compile(self.fwd, **kw)
            self.compiled = True
            if compile_opt:
                self._upd_eager = self.upd
                self.upd = torch.compile(self.upd, **kw)
                self.opt_compiled = True
        self.lr_t = torch.zeros((), device=device)
        self.lr1d_t = torch.zeros((), device=device)

    def step(self, ids, targets, lr, lr1d):
        """ids, targets (B, T) int64 on the device. Returns host floats/lists like the Go step."""
        loss, ce, acts, alphas = self.fwd(self.params, ids, targets)
        grads = torch.autograd.grad(loss, self.params)
        self.lr_t.fill_(lr)
        self.lr1d_t.fill_(lr1d)
        with torch.no_grad():
            try:
                gnorm, norms = self.upd(self.params, list(grads), self.state, self.lr_t, self.lr1d_t)
            except Exception as e:  # torch.compile of the in-place update failed: run it eagerly
                if not self.opt_compiled:
                    raise
                import sys
                print("bench: compiled optimizer update failed (%s: %s); falling back to eager" %
                      (type(e).__name__, str(e).splitlines()[0] if str(e) else ""), file=sys.stderr)
                self.upd, self.opt_compiled = self._upd_eager, False
                gnorm, norms = self.upd(self.params, list(grads), self.state, self.lr_t, self.lr1d_t)
        # One transfer of everything the host needs, as the Go step's outputs.
        host = torch.cat([torch.stack([loss.detach(), ce.detach(), gnorm]), norms, acts, alphas]).cpu()
        return float(host[0]), float(host[1]), float(host[2])

    def named_params(self):
        return {n: p.detach() for n, p in zip(self.names, self.params)}
