#!/usr/bin/env python3
"""Time nanoscope's model and training step in PyTorch (bench/torch_model.py), or check a loss.

Benchmark (prints ONE JSON line on stdout; progress and warnings go to stderr):

    python3 bench/bench_torch.py --preset cpu|d20 --device cpu|cuda --steps N --warmup K \
        [--compile] [--data FILE.bin] [--attn math|sdpa] [--tf32] [--bf16]

  Trains K untimed + N timed steps on random tokens (or on windows of a flat little-endian u32
  token file, in a seeded shuffled order) and reports tokens_per_s and ms_per_step over the N
  timed steps (each step ends with the host reading its loss and statistics, like the Go step),
  startup_s (process start to the end of the first step, including imports and compilation),
  first_step_s, peak_mem_mb (CUDA max_memory_allocated, or the process's peak RSS on CPU).

Loss check (prints one JSON line):

    python3 bench/bench_torch.py --loss-check CKPT_DIR --batch FILE.json

  The label-smoothed loss and plain CE of the checkpoint's weights on the batch {"ids": [[...]],
  "targets": [[...]]} (written by `gobench --write-batch`), in float32 (and float64 for scale).

Training check (prints one JSON line):

    python3 bench/bench_torch.py --train-check INIT_DIR --batches FILE.json

  Trains from the checkpoint INIT_DIR on the batches and learning rates of FILE.json (written by
  `gobench --dump-batches`) and reports the loss of every step, to compare with Go's.
"""

import argparse
import json
import os
import resource
import sys
import time


def process_start_time():
    """Wall-clock time at which this process started (Linux /proc), else now."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])  # field 22 overall: starttime in clock ticks since boot
        with open("/proc/stat") as f:
            btime = next(int(l.split()[1]) for l in f if l.startswith("btime "))
        return btime + start_ticks / os.sysconf("SC_CLK_TCK")
    except Exception:
        return time.time()


T_START = process_start_time()

import torch  # noqa: E402  (imported after the start time is taken, on purpose)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_model as tm  # noqa: E402


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def read_tokens(path):
    with open(path, "rb") as f:
        raw = bytearray(f.read())
    if len(raw) % 4:
        raise SystemExit("%s: size %d is not a multiple of 4 (flat u32 tokens)" % (path, len(raw)))
    t = torch.frombuffer(raw, dtype=torch.int32)  # ids < 2^31
    return t.to(torch.int64)


class Batches:
    """Random tokens, or shuffled windows k of a token file: ids[kT:kT+T], targets ids[kT+1:kT+T+1]."""

    def __init__(self, c, b, t, device, data=None, seed=1):
        self.b, self.t, self.v, self.device = b, t, c["vocab_size"], device
        self.g = torch.Generator().manual_seed(seed)
        self.tokens = None
        if data:
            self.tokens = read_tokens(data)
            mx = int(self.tokens.max())
            if mx >= self.v:
                raise SystemExit("%s: token id %d >= vocab_size %d (use --vocab)" % (data, mx, self.v))
            self.n = (len(self.tokens) - 1) // t
            if self.n < 1:
                raise SystemExit("%s: too short for one window of %d tokens" % (data, t + 1))
            self.order, self.cur = torch.randperm(self.n, generator=self.g), 0

    def next(self):
        if self.tokens is None:
            x = torch.randint(0, self.v, (self.b, self.t + 1), generator=self.g)
            ids, tg = x[:, :-1], x[:, 1:]
        else:
            rows = []
            for _ in range(self.b):
                if self.cur == self.n:
                    self.order, self.cur = torch.randperm(self.n, generator=self.g), 0
                k = int(self.order[self.cur])
                self.cur += 1
                rows.append(self.tokens[k * self.t:k * self.t + self.t + 1])
            x = torch.stack(rows)
            ids, tg = x[:, :-1], x[:, 1:]
        return ids.contiguous().to(self.device), tg.contiguous().to(self.device)


def peak_mem_mb(device):
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def variant(a):
    v = tm.default_variant()
    v["ternary"], v["mhc"] = not a.no_ternary, not a.no_mhc
    return v


def bench_part(a, c, v):
    """Times forward (loss, no gradient) or backward (loss and every gradient's squared norm)."""
    model = tm.Model(c, v, a.device, a.attn)
    names = sorted(tm.tensor_shapes(c, v))
    init = tm.init_params(c, v, a.seed)
    plist = [init[n].to(a.device).requires_grad_(a.part == "backward") for n in names]

    def fwd(plist, ids, tg):
        loss, _ = tm.loss_fn(model.forward(dict(zip(names, plist)), ids), tg)
        return loss

    if a.compile:
        fwd = torch.compile(fwd, **({"mode": a.compile_mode} if a.compile_mode else {}))
    data = Batches(c, c["batch_size"], c["max_seq_len"], a.device, a.data, a.seed)
    times, first, startup, loss0 = [], None, None, None
    cpu = 0.0
    for step in range(a.warmup + a.steps):
        ids, tg = data.next()
        t0, c0 = time.perf_counter(), cpu_seconds()
        if a.part == "forward":
            with torch.no_grad():
                host = fwd(plist, ids, tg).reshape(1)
        else:
            loss = fwd(plist, ids, tg)
            grads = torch.autograd.grad(loss, plist)
            host = torch.cat([loss.detach().reshape(1), torch.stack([(g * g).sum() for g in grads])])
        host = host.cpu()
        t1 = time.perf_counter()
        if step == 0:
            first, startup, loss0 = t1 - t0, time.time() - T_START, float(host[0])
        if step >= a.warmup:
            times.append(t1 - t0)
            cpu += cpu_seconds() - c0
    n = c["batch_size"] * c["max_seq_len"]
    ms = 1e3 * sum(times) / max(1, len(times))
    out = {"impl": "pytorch-compile" if a.compile else "pytorch-eager", "device": a.device,
           "preset": a.preset, "part": a.part, "ms_per_step": round(ms, 3),
           "cpu_ms_per_step": round(1e3 * cpu / len(times), 3) if times else None,
           "ms_per_step_min": round(1e3 * min(times), 3) if times else None,
           "ms_per_step_median": round(1e3 * median(times), 3) if times else None,
           "tokens_per_s": round(n / (ms / 1e3), 1) if times else None,
           "startup_s": round(startup, 3), "first_step_s": round(first, 3),
           "peak_mem_mb": round(peak_mem_mb(a.device), 1), "torch": torch.__version__,
           "threads": torch.get_num_threads(), "steps": a.steps, "warmup": a.warmup,
           "batch": c["batch_size"], "seq": c["max_seq_len"], "vocab": c["vocab_size"],
           "loss_first": round(loss0, 5)}
    add_variant(out, a)
    print(json.dumps(out), flush=True)


def add_variant(out, a):
    if a.no_ternary:
        out["ternary"] = False
    if a.no_mhc:
        out["mhc"] = False


def cpu_seconds():
    """User + system CPU time of this process so far, all threads (OpenBLAS's included)."""
    import resource
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def blas_info():
    """The BLAS library this process loaded and, for OpenBLAS, the kernel it runs (corename)."""
    info = {}
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({l.split()[-1] for l in f if "blas" in l.lower() and ".so" in l})
        info["blas_libs"] = libs
        for lib in libs:
            if "openblas" in lib:
                import ctypes
                ob = ctypes.CDLL(lib)
                ob.openblas_get_corename.restype = ctypes.c_char_p
                ob.openblas_get_config.restype = ctypes.c_char_p
                info["openblas_core"] = ob.openblas_get_corename().decode()
                info["openblas_config"] = ob.openblas_get_config().decode().strip()
                info["openblas_threads"] = ob.openblas_get_num_threads()
                break
    except Exception as e:  # informational only
        info["blas_error"] = str(e)
    return info


def bench(a):
    c = tm.PRESETS[a.preset]()
    for k, val in (("vocab_size", a.vocab), ("batch_size", a.batch_size), ("max_seq_len", a.seq)):
        if val:
            c[k] = val
    # The Go side trains warmup+steps steps with this schedule; only the values differ, not the work.
    c["total_steps"] = a.warmup + a.steps
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    v = variant(a)
    if a.part != "step":
        return bench_part(a, c, v)
    tr = tm.Trainer(c, v, device=a.device, seed=a.seed, compile=a.compile and not a.bf16,
                    compile_opt=not a.no_compile_opt, attn=a.attn, compile_mode=a.compile_mode)
    if a.bf16:
        autocast_bf16(tr, a)
    data = Batches(c, c["batch_size"], c["max_seq_len"], a.device, a.data, a.seed)
    tokens_per_step = c["batch_size"] * c["max_seq_len"]
    times, losses = [], []
    first_step_s = None
    startup_s = None
    total = a.warmup + a.steps
    t_prev = None
    cpu0 = None
    if a.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    for step in range(total):
        mult = tm.wsd(step, c["warmup_steps"], c["total_steps"], c["decay_start_frac"])
        ids, tg = data.next()
        t0 = time.perf_counter()
        loss, ce, gnorm = tr.step(ids, tg, c["lr"] * mult, c["mhc_lr"] * mult)
        sync(a.device)
        t1 = time.perf_counter()
        if step == a.warmup - 1 or (a.warmup == 0 and step == 0):
            cpu0 = cpu_seconds() if a.warmup > 0 else None
        if step == 0:
            first_step_s = t1 - t0
            startup_s = time.time() - T_START
        if step >= a.warmup:
            # The whole iteration (batch preparation included), as the Go side measures it.
            times.append(t1 - (t_prev if t_prev is not None else t0))
        t_prev = t1
        losses.append(loss)
        if a.verbose:
            log("step %d/%d loss %.4f ce %.4f |g| %.3f %.1f ms" % (step + 1, total, loss, ce, gnorm, (t1 - t0) * 1e3))
    ms = 1e3 * sum(times) / max(1, len(times))
    cpu_ms = 1e3 * (cpu_seconds() - cpu0) / len(times) if times and cpu0 is not None else None
    impl = "pytorch-compile" if a.compile else "pytorch-eager"
    out = {
        "impl": impl, "device": a.device, "preset": a.preset,
        "tokens_per_s": round(tokens_per_step / (ms / 1e3), 1) if times else None,
        "ms_per_step": round(ms, 3) if times else None,
        "cpu_ms_per_step": round(cpu_ms, 3) if cpu_ms is not None else None,
        "startup_s": round(startup_s, 3), "first_step_s": round(first_step_s, 3),
        "peak_mem_mb": round(peak_mem_mb(a.device), 1),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "steps": a.steps, "warmup": a.warmup, "batch": c["batch_size"], "seq": c["max_seq_len"],
        "vocab": c["vocab_size"], "dim": c["dim"], "layers": c["n_layers"],
        "data": a.data or "random", "attn": a.attn, "tf32": bool(a.tf32), "bf16_autocast": bool(a.bf16),
        "ms_per_step_min": round(1e3 * min(times), 3) if times else None,
        "ms_per_step_median": round(1e3 * median(times), 3) if times else None,
        "loss_first": round(losses[0], 5), "loss_last": round(losses[-1], 5),
    }
    add_variant(out, a)
    if a.device == "cpu":
        out.update(blas_info())
    if a.compile:
        out["opt_compiled"] = tr.opt_compiled
        out["compile_mode"] = a.compile_mode or "default"
    if a.device.startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name()
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS"):
        if os.environ.get(k):
            out["env_" + k] = os.environ[k]
    print(json.dumps(out), flush=True)


def autocast_bf16(tr, a):
    """The usual mixed-precision recipe: the forward pass and loss (hence their backward) under
    torch.autocast(bfloat16) — matmuls in bfloat16, softmax/log_softmax/norm reductions in float32
    by autocast's own lists — with float32 master weights and optimizer state (the update is left
    as it is). Compiled after wrapping, so torch.compile traces the autocast region."""
    dev = "cuda" if a.device.startswith("cuda") else "cpu"
    raw = tr.fwd

    def fwd(params, ids, targets):
        with torch.autocast(device_type=dev, dtype=torch.bfloat16):
            return raw(params, ids, targets)

    tr.fwd = fwd
    if a.compile:
        kw = {"mode": a.compile_mode} if a.compile_mode else {}
        tr.fwd = torch.compile(tr.fwd, **kw)
        tr.compiled = True
        if not a.no_compile_opt:
            tr._upd_eager = tr.upd
            tr.upd = torch.compile(tr.upd, **kw)
            tr.opt_compiled = True


def load_batch(path, device):
    with open(path) as f:
        b = json.load(f)
    ids = torch.tensor(b["ids"], dtype=torch.int64, device=device)
    tg = torch.tensor(b["targets"], dtype=torch.int64, device=device)
    return ids, tg


def loss_check(a):
    c, v, params = tm.load_checkpoint(a.loss_check)
    ids, tg = load_batch(a.batch, a.device)
    out = {"impl": "pytorch", "checkpoint": a.loss_check, "batch": a.batch, "torch": torch.__version__,
           "shape": list(ids.shape)}
    for name, dt in (("", torch.float32), ("_f64", torch.float64)):
        m = tm.Model(c, v, a.device, "math", dt)
        p = {k: t.to(a.device, dt) for k, t in params.items()}
        with torch.no_grad():
            loss, ce = tm.loss_fn(m.forward(p, ids), tg)
        out["loss" + name], out["ce" + name] = float(loss), float(ce)
    print(json.dumps(out), flush=True)


def train_check(a):
    c, v, params = tm.load_checkpoint(a.train_check)
    with open(a.batches) as f:
        spec = json.load(f)
    tr = tm.Trainer(c, v, params=params, device=a.device)
    losses, ces, gnorms = [], [], []
    for st in spec["steps"]:
        ids = torch.tensor(st["ids"], dtype=torch.int64, device=a.device)
        tg = torch.tensor(st["targets"], dtype=torch.int64, device=a.device)
        loss, ce, g = tr.step(ids, tg, st["lr"], st["lr1d"])
        losses.append(loss)
        ces.append(ce)
        gnorms.append(g)
    print(json.dumps({"impl": "pytorch", "init": a.train_check, "losses": losses, "ces": ces,
                      "grad_norms": gnorms, "torch": torch.__version__}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="cpu", choices=sorted(tm.PRESETS))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (the first includes compilation)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the forward/loss and the optimizer update (torch >= 2)")
    ap.add_argument("--compile-mode", default=None, help="torch.compile mode (default, reduce-overhead, max-autotune, ...)")
    ap.add_argument("--no-compile-opt", action="store_true", help="with --compile, keep the optimizer update eager")
    ap.add_argument("--attn", default="math", choices=["math", "sdpa"], help="attention: explicit (same work as Go) or F.scaled_dot_product_attention")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 matmuls on CUDA (default: full float32)")
    ap.add_argument("--bf16", action="store_true", help="bfloat16 autocast of the forward pass and loss (float32 master weights and optimizer state)")
    ap.add_argument("--data", default=None, help="flat little-endian u32 token file (default: random tokens)")
    ap.add_argument("--vocab", type=int, default=0, help="override vocab_size")
    ap.add_argument("--batch-size", type=int, default=0, help="override batch_size")
    ap.add_argument("--seq", type=int, default=0, help="override max_seq_len")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--part", default="step", choices=["step", "forward", "backward"],
                    help="time the full training step, the forward (loss) only, or forward+backward without the optimizer")
    ap.add_argument("--no-ternary", action="store_true", help="ablation: float linears, to time BitLinear's cost")
    ap.add_argument("--no-mhc", action="store_true", help="ablation: plain residual instead of mHC-lite")
    ap.add_argument("--loss-check", default=None, metavar="CKPT_DIR")
    ap.add_argument("--batch", default=None, metavar="FILE.json", help="batch for --loss-check")
    ap.add_argument("--train-check", default=None, metavar="INIT_DIR")
    ap.add_argument("--batches", default=None, metavar="FILE.json", help="batches and rates for --train-check")
    a = ap.parse_args()
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device %s: CUDA is not available in this torch (%s)" % (a.device, torch.__version__))
    if a.compile and not hasattr(torch, "compile"):
        raise SystemExit("--compile needs torch >= 2 (this is %s)" % torch.__version__)
    if a.loss_check:
        if not a.batch:
            raise SystemExit("--loss-check needs --batch FILE.json")
        return loss_check(a)
    if a.train_check:
        if not a.batches:
            raise SystemExit("--train-check needs --batches FILE.json")
        return train_check(a)
    bench(a)


if __name__ == "__main__":
    main()
