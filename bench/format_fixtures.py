"""Parity fixtures for the nanoGPT ckpt.pt and llm.c .bin readers (gomlxmodel/load), written by
PyTorch on the GPU machine:

    python3 bench/format_fixtures.py OUT_DIR

The reference model is written here from the formats' public descriptions (nanoGPT's model.py
and train.py, llm.c's train_gpt2.py): GPT-2 with nn.Linear weights, a head tied to wte,
LayerNorm eps 1e-5; nanoGPT's exact-erf GELU and optional biases, llm.c's tanh GELU. It writes

  nanogpt_random.pt   a random model, bias=True, saved as train.py does (with an optimizer)
  nanogpt_trained.pt  briefly trained on bytes, bias=False, the state dict of the torch.compile
                      wrapper (keys prefixed _orig_mod.) and with the causal-mask buffers
                      transformer.h.{i}.attn.bias nanoGPT registers without flash attention
  llmc_f32.bin        a briefly trained model (biases, tanh GELU) in llm.c's layout, float32,
                      vocabulary 250 padded to 256 with zero rows
  llmc_bf16.bin       the same weights in bfloat16
  fixtures.json       for each file: the window of ids and the float32 logits the reference
                      computes on it (for the bf16 file, from the bf16-rounded weights)
"""
import glob, json, math, os, struct, sys, sysconfig

import torch
import torch.nn as nn
import torch.nn.functional as F

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
dev = "cuda" if torch.cuda.is_available() else "cpu"
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


class LayerNorm(nn.Module):
    def __init__(self, n, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.bias = nn.Parameter(torch.zeros(n)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_attn = nn.Linear(c["n_embd"], 3 * c["n_embd"], bias=c["bias"])
        self.c_proj = nn.Linear(c["n_embd"], c["n_embd"], bias=c["bias"])
        self.nh, self.n = c["n_head"], c["n_embd"]
        if c.get("mask_buffer"):
            bs = c["block_size"]
            self.register_buffer("bias", torch.tril(torch.ones(bs, bs)).view(1, 1, bs, bs))

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(self.n, dim=2)
        q, k, v = (t.view(B, T, self.nh, C // self.nh).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
        mask = torch.tril(torch.ones(T, T, device=x.device, dtype=torch.bool))
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = nn.Linear(c["n_embd"], 4 * c["n_embd"], bias=c["bias"])
        self.gelu = nn.GELU(approximate=c["gelu"])
        self.c_proj = nn.Linear(4 * c["n_embd"], c["n_embd"], bias=c["bias"])

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1, self.attn = LayerNorm(c["n_embd"], c["bias"]), Attention(c)
        self.ln_2, self.mlp = LayerNorm(c["n_embd"], c["bias"]), MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(c["vocab_size"], c["n_embd"]), wpe=nn.Embedding(c["block_size"], c["n_embd"]),
            h=nn.ModuleList([Block(c) for _ in range(c["n_layer"])]), ln_f=LayerNorm(c["n_embd"], c["bias"])))
        self.lm_head = nn.Linear(c["n_embd"], c["vocab_size"], bias=False)
        self.transformer.wte.weight = self.lm_head.weight
        for n, p in self.named_parameters():
            if n.endswith("weight") and p.dim() == 2:
                nn.init.normal_(p, 0.0, 0.02)
            elif n.endswith("c_proj.weight"):
                pass
            elif n.endswith("bias"):
                nn.init.normal_(p, 0.0, 0.02)  # non-zero biases, so that a dropped one shows
            elif n.endswith("weight"):
                nn.init.normal_(p, 1.0, 0.1)

    def forward(self, ids):
        t = self.transformer
        x = t.wte(ids) + t.wpe(torch.arange(ids.shape[1], device=ids.device))
        for b in t.h:
            x = b(x)
        return self.lm_head(t.ln_f(x))


data = b""
for p in sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "*.py"))):
    data += open(p, "rb").read()
    if len(data) > 1_000_000:
        break
stream = torch.tensor(list(data), dtype=torch.long)


def train(m, vocab, steps=150):
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    bs = m.transformer.wpe.weight.shape[0]
    for _ in range(steps):
        s = torch.randint(0, len(stream) - bs - 1, (32,), generator=g)
        x = torch.stack([stream[i:i + bs + 1] for i in s]) % vocab
        x = x.to(dev)
        loss = F.cross_entropy(m(x[:, :-1]).flatten(0, 1), x[:, 1:].flatten())
        opt.zero_grad(); loss.backward(); opt.step()
    print("trained", steps, "steps, loss", round(loss.item(), 3), flush=True)
    return opt


fixtures = {}


def window(vocab, T, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (T,), generator=g).tolist()


def record(name, m, vocab, T, seed):
    ids = window(vocab, T, seed)
    with torch.no_grad():
        lg = m(torch.tensor([ids], device=dev)).float().cpu()[0]
    fixtures[name] = {"ids": ids, "logits": [[float(v) for v in row] for row in lg]}


# nanoGPT, random, bias=True.
torch.manual_seed(1)
ca = dict(n_layer=2, n_head=2, n_embd=32, block_size=16, bias=True, vocab_size=256, dropout=0.0)
m = GPT(dict(ca, gelu="none")).to(dev).eval()
opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
torch.save({"model": m.state_dict(), "optimizer": opt.state_dict(), "model_args": ca, "iter_num": 0,
            "best_val_loss": torch.tensor(1e9), "config": {"dataset": "bytes", "n_layer": 2}}, f"{out}/nanogpt_random.pt")
record("nanogpt_random.pt", m, 256, 16, 11)

# nanoGPT, trained, bias=False, saved from the torch.compile wrapper, with mask buffers.
torch.manual_seed(2)
cb = dict(n_layer=3, n_head=4, n_embd=48, block_size=32, bias=False, vocab_size=256, dropout=0.0)
m = GPT(dict(cb, gelu="none", mask_buffer=True)).to(dev)
opt = train(m, 256)
m.eval()
wrapped = torch.compile(m)  # lazy: nothing compiles, but the state dict's keys get _orig_mod.
sd = wrapped.state_dict()
assert all(k.startswith("_orig_mod.") for k in sd), list(sd)[:3]
torch.save({"model": sd, "optimizer": opt.state_dict(), "model_args": cb, "iter_num": 150,
            "best_val_loss": torch.tensor(2.5), "config": {"dataset": "bytes", "compile": True}}, f"{out}/nanogpt_trained.pt")
record("nanogpt_trained.pt", m, 256, 32, 12)

# llm.c, trained, biases, tanh GELU, vocabulary 250 padded to 256.
torch.manual_seed(3)
V, Vp = 250, 256
cc = dict(n_layer=2, n_head=4, n_embd=32, block_size=24, bias=True, vocab_size=V)
m = GPT(dict(cc, gelu="tanh")).to(dev)
train(m, V)
m.eval()


def write_llmc(path, m, bf16):
    sd = {k: v.detach().float().cpu() for k, v in m.state_dict().items()}
    L, C = cc["n_layer"], cc["n_embd"]
    header = [0] * 256
    header[:8] = [20240326, 5 if bf16 else 3, cc["block_size"], V, L, cc["n_head"], C, Vp]
    wte = torch.cat([sd["transformer.wte.weight"], torch.zeros(Vp - V, C)])
    h = lambda k: [sd[f"transformer.h.{i}.{k}"] for i in range(L)]
    parts = [[wte], [sd["transformer.wpe.weight"]], h("ln_1.weight"), h("ln_1.bias"), h("attn.c_attn.weight"),
             h("attn.c_attn.bias"), h("attn.c_proj.weight"), h("attn.c_proj.bias"), h("ln_2.weight"), h("ln_2.bias"),
             h("mlp.c_fc.weight"), h("mlp.c_fc.bias"), h("mlp.c_proj.weight"), h("mlp.c_proj.bias"),
             [sd["transformer.ln_f.weight"]], [sd["transformer.ln_f.bias"]]]
    with open(path, "wb") as f:
        f.write(struct.pack("<256i", *header))
        for group in parts:
            for t in group:
                t = t.contiguous()
                if bf16:
                    f.write(t.to(torch.bfloat16).view(torch.int16).numpy().tobytes())
                else:
                    f.write(t.numpy().astype("<f4").tobytes())


write_llmc(f"{out}/llmc_f32.bin", m, False)
record("llmc_f32.bin", m, V, 24, 13)
write_llmc(f"{out}/llmc_bf16.bin", m, True)
with torch.no_grad():
    for p in m.parameters():
        p.copy_(p.to(torch.bfloat16).float())
record("llmc_bf16.bin", m, V, 24, 13)

json.dump(fixtures, open(f"{out}/fixtures.json", "w"))
for f in sorted(os.listdir(out)):
    print(f, os.path.getsize(f"{out}/{f}"))
