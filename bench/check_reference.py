#!/usr/bin/env python3
"""Check bench/torch_model.py against the independent numpy reference's fixtures
(gomlxmodel/testdata/reference/*: checkpoint + expected logits): every logit within 1e-4
relative (max(1, |want|)) except at the positions the fixture marks near an 8-bit rounding
boundary. Prints one JSON line {"kind": "reference_check", "pass": ..., "fixtures": {...}}.

    python3 bench/check_reference.py
"""
import glob
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_model as tm  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gomlxmodel", "testdata", "reference")


def main():
    out = {"kind": "reference_check", "fixtures": {}}
    ok = True
    for d in sorted(glob.glob(os.path.join(ROOT, "*", "expected_logits.json"))):
        d = os.path.dirname(d)
        c, v, params = tm.load_checkpoint(d)
        with open(os.path.join(d, "expected_logits.json")) as f:
            e = json.load(f)
        ids = torch.tensor(e["tokens"])
        with torch.no_grad():
            got = tm.Model(c, v).forward(params, ids).reshape(ids.numel(), -1)
        want = torch.tensor(e["logits"]).reshape(ids.numel(), -1)
        near = torch.tensor(e["near_boundary"]).reshape(-1)
        dev = ((got - want).abs() / want.abs().clamp_min(1.0)).amax(-1)
        clean = float(dev[~near].max()) if (~near).any() else 0.0
        argmax_ok = bool((got.argmax(-1) == want.argmax(-1)).all())
        passed = clean <= 1e-4 and argmax_ok
        ok &= passed
        out["fixtures"][os.path.basename(d)] = {"max_rel_dev": clean, "near_boundary_positions": int(near.sum()),
                                                "argmax_equal": argmax_ok, "pass": passed}
    out["pass"] = ok and bool(out["fixtures"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
