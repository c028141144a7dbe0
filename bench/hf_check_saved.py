#!/usr/bin/env python3
"""Load checkpoints that nanoscope wrote with hf.Save into transformers and compare logits.

    NANOSCOPE_HF_EXPORT=DIR go test ./gomlxmodel/hf -run TestExportForTransformers
    python3 bench/hf_check_saved.py DIR

For each directory: from_pretrained (float32, eager attention, CPU), logits on the ids of
<name>.reference.safetensors beside it (outside the checkpoint, whose files nanoscope reads as a
closed list), max|Δ|/max|logit| against nanoscope's logits and argmax agreement.
"""
import os
import sys

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

root = sys.argv[1]
worst = 0.0
for name in sorted(os.listdir(root)):
    d = os.path.join(root, name)
    if not os.path.isdir(d):
        continue
    ref = load_file(d + ".reference.safetensors")
    model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
    with torch.no_grad():
        got = model(input_ids=ref["ids"].long()).logits
    rel = ((got - ref["logits"]).abs().max() / ref["logits"].abs().max()).item()
    agree = (got.argmax(-1) == ref["logits"].argmax(-1)).float().mean().item()
    worst = max(worst, rel)
    print(f"{name}: {type(model).__name__} max|Δ|/max|logit| = {rel:.2e}, argmax agreement {agree:.3f}", flush=True)
print(f"worst {worst:.2e}")
sys.exit(0 if worst < 1e-4 else 1)
