"""Parity fixtures for the nanochat checkpoint reader (gomlxmodel/load/nanochat.go), written by
PyTorch on the GPU machine:

    python3 bench/nanochat_fixtures.py OUT_DIR

The reference model is written here from nanochat's public description (nanochat/gpt.py,
checkpoint_manager.py, scripts/base_train.py); nanochat itself is not imported. Its forward:
a padded-vocabulary embedding wte, parameter-free RMSNorm (F.rms_norm, eps = float32's machine
epsilon), the smear gate (smear_lambda · sigmoid(smear_gate(x[:, 1:, :24])) mixing in the
previous position), x0 = x, per layer x = resid_lambdas[i]·x + x0_lambdas[i]·x0, value
embeddings on the layers i with i % 2 == (n_layer − 1) % 2 mixed into v through
3·sigmoid(ve_gate(x[..., :12])) per kv head, rotary embeddings on halves with nanochat's sign
(y1 = x1·cos + x2·sin, y2 = −x1·sin + x2·cos, base 100000), QK RMSNorm then ×1.2, causal GQA
attention (query head h reads kv head h // (n_head / n_kv_head)) with a sliding window per layer
(window_pattern tiled, last layer long; short = ceil(seq_len/4/128)·128 keys to the left), a
relu² MLP, backout (x − backout_lambda · the stream after layer n_layer // 2), a final norm, an
untied head cropped to vocab_size and the soft-cap 15·tanh(x/15). It writes, in the layout of
nanochat's checkpoint_manager (model_<step:06d>.pt state dict, meta_<step:06d>.json):

  random/   step 0: nanochat's init_weights, then every zero-initialised tensor (c_proj, the
            smear lambda) drawn at random so that every part of the forward is exercised
  trained/  step 120: briefly trained on bytes (AdamW)
  legacy/   the trained weights as an older nanochat saved them: no resid_lambdas, x0_lambdas
            nor window_pattern (its loader patches 1, 0 and "L"), keys prefixed _orig_mod.
  fixtures.json  for each directory the window of ids; <name>.logits.f32 the float32 logits
            (T, vocab_size), little-endian, computed from the bf16-rounded embeddings in float32
"""
import collections, json, math, os, struct, sys

import torch
import torch.nn as nn
import torch.nn.functional as F

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
dev = "cuda" if torch.cuda.is_available() else "cpu"
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.manual_seed(1234)

CFG = dict(sequence_len=512, vocab_size=300, n_layer=4, n_head=4, n_kv_head=2, n_embd=32, window_pattern="SSL")
PAD = 64


def rms(x):
    return F.rms_norm(x, (x.size(-1),))  # eps None: torch.finfo(float32).eps


def has_ve(i, n):
    return i % 2 == (n - 1) % 2


class Ref(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        V = ((c["vocab_size"] + PAD - 1) // PAD) * PAD
        D, H, Hkv, L = c["n_embd"], c["n_head"], c["n_kv_head"], c["n_layer"]
        hd = D // H
        self.V, self.hd = V, hd
        lin = lambda i, o: nn.Linear(i, o, bias=False)
        self.transformer = nn.ModuleDict({"wte": nn.Embedding(V, D), "h": nn.ModuleList()})
        for i in range(L):
            blk = nn.Module()
            blk.attn = nn.Module()
            blk.attn.c_q, blk.attn.c_k, blk.attn.c_v, blk.attn.c_proj = lin(D, H * hd), lin(D, Hkv * hd), lin(D, Hkv * hd), lin(D, D)
            blk.attn.ve_gate = lin(12, Hkv) if has_ve(i, L) else None
            blk.mlp = nn.Module()
            blk.mlp.c_fc, blk.mlp.c_proj = lin(D, 4 * D), lin(4 * D, D)
            self.transformer.h.append(blk)
        self.lm_head = lin(D, V)
        self.resid_lambdas = nn.Parameter(torch.ones(L))
        self.x0_lambdas = nn.Parameter(torch.zeros(L))
        self.smear_gate = lin(24, 1)
        self.smear_lambda = nn.Parameter(torch.zeros(1))
        self.backout_lambda = nn.Parameter(0.2 * torch.ones(1))
        self.value_embeds = nn.ModuleDict({str(i): nn.Embedding(V, Hkv * hd) for i in range(L) if has_ve(i, L)})
        # windows: (left keys) per layer
        pat = c.get("window_pattern", "L").upper()
        long_w = c["sequence_len"]
        short_w = -(-long_w // 4 // 128) * 128
        self.windows = [long_w if pat[i % len(pat)] == "L" else short_w for i in range(L)]
        self.windows[-1] = long_w

    @torch.no_grad()
    def init_nanochat(self):
        D, L = self.c["n_embd"], self.c["n_layer"]
        nn.init.normal_(self.transformer.wte.weight, std=0.8)
        nn.init.normal_(self.lm_head.weight, std=0.001)
        s = 3 ** 0.5 * D ** -0.5
        for b in self.transformer.h:
            for w in (b.attn.c_q, b.attn.c_k, b.attn.c_v):
                nn.init.uniform_(w.weight, -s, s)
            nn.init.zeros_(b.attn.c_proj.weight)
            nn.init.uniform_(b.mlp.c_fc.weight, -s * 0.4, s * 0.4)
            nn.init.zeros_(b.mlp.c_proj.weight)
            if b.attn.ve_gate is not None:
                nn.init.uniform_(b.attn.ve_gate.weight, 0.0, 0.02)
        for i in range(L):
            self.resid_lambdas.data[i] = 1.15 - 0.10 * i / max(L - 1, 1)
            self.x0_lambdas.data[i] = 0.20 - 0.15 * i / max(L - 1, 1)
        nn.init.zeros_(self.smear_lambda)
        nn.init.constant_(self.backout_lambda, 0.2)
        nn.init.uniform_(self.smear_gate.weight, 0.0, 0.02)
        for ve in self.value_embeds.values():
            nn.init.uniform_(ve.weight, -s, s)

    def rotary(self, T, device):
        hd = self.hd
        inv = 1.0 / (100000 ** (torch.arange(0, hd, 2, dtype=torch.float32, device=device) / hd))
        f = torch.outer(torch.arange(T, dtype=torch.float32, device=device), inv)
        return f.cos()[None, :, None, :], f.sin()[None, :, None, :]

    def forward(self, idx):
        c = self.c
        B, T = idx.shape
        H, Hkv, hd = c["n_head"], c["n_kv_head"], self.hd
        cos, sin = self.rotary(T, idx.device)

        def rope(x):
            d = x.shape[3] // 2
            x1, x2 = x[..., :d], x[..., d:]
            return torch.cat([x1 * cos + x2 * sin, x1 * (-sin) + x2 * cos], 3)

        x = rms(self.transformer.wte(idx).float())
        gate = self.smear_lambda * torch.sigmoid(self.smear_gate(x[:, 1:, :24]))
        x = torch.cat([x[:, :1], x[:, 1:] + gate * x[:, :-1]], dim=1)
        x0 = x
        half = c["n_layer"] // 2
        xb = None
        pos = torch.arange(T, device=idx.device)
        for i, b in enumerate(self.transformer.h):
            x = self.resid_lambdas[i] * x + self.x0_lambdas[i] * x0
            u = rms(x)
            a = b.attn
            q = a.c_q(u).view(B, T, H, hd)
            k = a.c_k(u).view(B, T, Hkv, hd)
            v = a.c_v(u).view(B, T, Hkv, hd)
            if str(i) in self.value_embeds:
                ve = self.value_embeds[str(i)](idx).float().view(B, T, Hkv, hd)
                g = 3 * torch.sigmoid(a.ve_gate(u[..., :12]))
                v = v + g.unsqueeze(-1) * ve
            q, k = rope(q), rope(k)
            q, k = rms(q) * 1.2, rms(k) * 1.2
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            rep = H // Hkv
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
            att = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
            w = self.windows[i]
            mask = (pos[None, :] <= pos[:, None]) & (pos[:, None] - pos[None, :] <= w)
            att = att.masked_fill(~mask, float("-inf")).softmax(-1)
            y = (att @ v).transpose(1, 2).reshape(B, T, H * hd)
            x = x + a.c_proj(y)
            m = b.mlp
            x = x + m.c_proj(F.relu(m.c_fc(rms(x))).square())
            if i == half:
                xb = x
        x = x - self.backout_lambda * xb
        x = rms(x)
        logits = self.lm_head(x)[..., : c["vocab_size"]]
        return 15 * torch.tanh(logits / 15)


def bf16_embeddings(sd):
    """nanochat casts wte and the value embeddings to its compute dtype (bf16) before saving."""
    def cast(k, v):
        if k.startswith("transformer.wte.") or k.startswith("value_embeds."):
            v = v.to(torch.bfloat16)
        return v.detach().cpu().clone()
    return collections.OrderedDict((k, cast(k, v)) for k, v in sd.items())


def meta(step, cfg, val_bpb):
    return {"step": step, "val_bpb": val_bpb, "model_config": cfg,
            "user_config": {"run": "dummy", "depth": cfg["n_layer"], "max_seq_len": cfg["sequence_len"], "num_iterations": step},
            "device_batch_size": 8, "max_seq_len": cfg["sequence_len"], "total_batch_size": 8 * cfg["sequence_len"],
            "dataloader_state_dict": {"pq_idx": 0, "rg_idx": 0},
            "loop_state": {"min_val_bpb": val_bpb, "smooth_train_loss": 0.0, "total_training_time": 0.0}}


def save(name, step, sd, cfg, val_bpb, optim=None):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    torch.save(sd, os.path.join(d, f"model_{step:06d}.pt"))
    with open(os.path.join(d, f"meta_{step:06d}.json"), "w") as f:
        json.dump(meta(step, cfg, val_bpb), f, indent=2)
    if optim is not None:
        torch.save(optim, os.path.join(d, f"optim_{step:06d}_rank0.pt"))


T = 144  # > the short window's 128 keys + 1, so the window matters
ids = torch.randint(0, CFG["vocab_size"], (1, T), generator=torch.Generator().manual_seed(7))
fixtures = {}


def reference_logits(cfg, sd_saved):
    m = Ref(cfg).to(dev)
    m.load_state_dict({k.removeprefix("_orig_mod."): v.float() for k, v in sd_saved.items()}, strict=True)
    with torch.no_grad():
        lg = m(ids.to(dev)).float().cpu()[0]
    return lg


def record(name, lg):
    fixtures[name] = {"ids": ids[0].tolist(), "logits_file": name + ".logits.f32", "shape": list(lg.shape)}
    with open(os.path.join(out, name + ".logits.f32"), "wb") as f:
        f.write(struct.pack("<%df" % lg.numel(), *lg.flatten().tolist()))
    print(name, "max|logit|", lg.abs().max().item(), "argmax[:8]", lg.argmax(-1)[:8].tolist())


# random
m = Ref(CFG).to(dev)
m.init_nanochat()
with torch.no_grad():
    for b in m.transformer.h:
        nn.init.uniform_(b.attn.c_proj.weight, -0.2, 0.2)
        nn.init.uniform_(b.mlp.c_proj.weight, -0.1, 0.1)
    m.smear_lambda.fill_(0.7)
    nn.init.normal_(m.lm_head.weight, std=0.3)
sd = bf16_embeddings(m.state_dict())
save("random", 0, sd, CFG, 9.9)
record("random", reference_logits(CFG, sd))

# trained on bytes of this file and gpt.py-like text
text = open(__file__, "rb").read() * 4
data = torch.tensor(list(text), dtype=torch.long)
m = Ref(CFG).to(dev)
m.init_nanochat()
opt = torch.optim.AdamW(m.parameters(), lr=3e-3, betas=(0.8, 0.95), weight_decay=0.0)
g = torch.Generator().manual_seed(3)
for step in range(120):
    ix = torch.randint(0, len(data) - 129, (8,), generator=g)
    xb = torch.stack([data[i:i + 128] for i in ix]).to(dev)
    yb = torch.stack([data[i + 1:i + 129] for i in ix]).to(dev)
    loss = F.cross_entropy(m(xb).view(-1, CFG["vocab_size"]), yb.view(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
print("trained loss", loss.item())
sd = bf16_embeddings(m.state_dict())
save("trained", 120, sd, CFG, round(loss.item() / math.log(2), 4))
record("trained", reference_logits(CFG, sd))

# legacy: no resid_lambdas / x0_lambdas / window_pattern, keys prefixed _orig_mod.
old = {k: v for k, v in CFG.items() if k != "window_pattern"}
lsd = {"_orig_mod." + k: v for k, v in sd.items() if k not in ("resid_lambdas", "x0_lambdas")}
save("legacy", 120, lsd, old, 1.0)
full = dict(lsd)
full["resid_lambdas"] = torch.ones(CFG["n_layer"])
full["x0_lambdas"] = torch.zeros(CFG["n_layer"])
record("legacy", reference_logits(dict(old, window_pattern="L"), full))

with open(os.path.join(out, "fixtures.json"), "w") as f:
    json.dump(fixtures, f)
