#!/usr/bin/python3
"""Reference optimizer steps for tests/optimizer_test.cpp, written with PyTorch 1.13.

AdamW is torch.optim.AdamW itself (plus torch.nn.utils.clip_grad_norm_ for the clipped case).
Torch 1.13 has no Adafactor, so `adafactor_step` below is written from the Mesh TensorFlow
AdafactorOptimizer description (SPEC.md §7; Shazeer & Stern 2018): decay 1 - (t+1)^-0.8, g^2 + 1e-30,
factored second moments when the second-largest dim >= threshold, update clipping at RMS 1,
parameter scale max(RMS(W), 1e-3), optional momentum on the scaled update and HF-style decoupled
weight decay.

Writes tests/fixtures/optim/optim.json (manifest) and optim.bin (float32 little-endian arrays).
Regenerate:  /usr/bin/python3 tests/reference/optimizers_reference.py tests/fixtures/optim
"""
import json
import math
import os
import sys

import torch

# Shapes below and above the factoring threshold (128): "big" is factored by Mesh TF's rule, "tall"
# only when every 2-D tensor is factored (HF), "tiny" has RMS < 1e-3 so the parameter-scale floor acts.
TENSORS = [("big", [130, 129], 0.05), ("tall", [200, 16], 0.1), ("vec", [24], 1.0),
           ("wide", [12, 40], 0.2), ("tiny", [16, 8], 1e-4)]
GRAD_SCALES = [1.0, 10.0, 0.1]        # step 2's larger gradients trigger Adafactor's update clipping
LRS = [0.01, 0.008, 0.005]            # the learning rate passed to each of the 3 steps

CONFIGS = {
    # Mesh TF defaults, as used for the T5 checkpoints.
    "adafactor_mesh": {"name": "adafactor"},
    # Hugging Face / fairseq variant: every 2-D tensor factored, no parameter scale, momentum, decay.
    "adafactor_hf": {"name": "adafactor", "factor_threshold": 0, "multiply_by_parameter_scale": False,
                     "beta1": 0.9, "weight_decay": 0.01},
    # Mesh TF Adafactor after global-norm gradient clipping.
    "adafactor_clip": {"name": "adafactor", "clip_norm": 1.0},
    "adamw": {"name": "adamw", "weight_decay": 0.01},
    "adamw_clip": {"name": "adamw", "weight_decay": 0.01, "clip_norm": 1.0, "adam_beta2": 0.99, "adam_eps": 1e-6},
}


def rms(x):
    return x.norm(2) / math.sqrt(x.numel())


def adafactor_step(p, g, state, t, lr, cfg):
    """One Mesh TF Adafactor update of tensor p (in place); t is the 0-based step."""
    threshold = cfg.get("factor_threshold", 128)
    beta1 = cfg.get("beta1", 0.0)
    decay = 1.0 - math.pow(t + 1.0, -0.8)
    g2 = g * g + 1e-30
    scale = lr
    if cfg.get("multiply_by_parameter_scale", True):
        scale = lr * max(rms(p).item(), 1e-3)
    factored = p.dim() == 2 and min(p.shape) >= threshold
    if factored:
        vr = state.setdefault("vr", torch.zeros(p.shape[0]))
        vc = state.setdefault("vc", torch.zeros(p.shape[1]))
        vr.mul_(decay).add_(g2.mean(dim=1), alpha=1.0 - decay)
        vc.mul_(decay).add_(g2.mean(dim=0), alpha=1.0 - decay)
        r_factor = (vr / vr.mean()).rsqrt().unsqueeze(1)
        c_factor = vc.rsqrt().unsqueeze(0)
        x = g * r_factor * c_factor
    else:
        v = state.setdefault("v", torch.zeros(p.shape))
        v.mul_(decay).add_(g2, alpha=1.0 - decay)
        x = g * v.rsqrt()
    x = x / max(1.0, rms(x).item() / 1.0)
    sub = x * scale
    if beta1 > 0:
        m = state.setdefault("m", torch.zeros(p.shape))
        m.mul_(beta1).add_(sub, alpha=1.0 - beta1)
        sub = m
    wd = cfg.get("weight_decay", 0.0)
    p.add_(p, alpha=-wd * scale)
    p.sub_(sub)


def run(cfg, init, grads):
    params = [torch.nn.Parameter(t.clone()) for t in init]
    clip = cfg.get("clip_norm", 0.0)
    if cfg["name"] == "adamw":
        opt = torch.optim.AdamW(params, lr=LRS[0], betas=(0.9, cfg.get("adam_beta2", 0.999)),
                                eps=cfg.get("adam_eps", 1e-8), weight_decay=cfg.get("weight_decay", 0.0))
    states = [dict() for _ in params]
    for t, step_grads in enumerate(grads):
        for p, g in zip(params, step_grads):
            p.grad = g.clone()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(params, clip)
        with torch.no_grad():
            if cfg["name"] == "adamw":
                for group in opt.param_groups:
                    group["lr"] = LRS[t]
                opt.step()
            else:
                for p, s in zip(params, states):
                    adafactor_step(p.data, p.grad, s, t, LRS[t], cfg)
    out = {"params": [p.detach() for p in params]}
    if cfg["name"] == "adamw":
        for key in ("exp_avg", "exp_avg_sq"):
            out[key] = [opt.state[p][key] for p in params]
    else:
        for key in ("vr", "vc", "v", "m"):
            out[key] = [s.get(key) for s in states]
    return out


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/optim"
    os.makedirs(out_dir, exist_ok=True)
    gen = torch.Generator().manual_seed(1234)
    init = [torch.randn(shape, generator=gen) * std for _, shape, std in TENSORS]
    grads = [[torch.randn(shape, generator=gen) * 0.01 * s for _, shape, _ in TENSORS] for s in GRAD_SCALES]

    blob = []
    offset = [0]

    def add(t):
        flat = t.detach().to(torch.float32).reshape(-1)
        entry = {"offset": offset[0], "shape": list(t.shape)}
        blob.append(flat)
        offset[0] += flat.numel()
        return entry

    manifest = {
        "generator": "tests/reference/optimizers_reference.py (torch %s)" % torch.__version__,
        "tensors": [{"name": n, "shape": s} for n, s, _ in TENSORS],
        "lrs": LRS,
        "init": {n: add(t) for (n, _, _), t in zip(TENSORS, init)},
        "grads": [{n: add(g) for (n, _, _), g in zip(TENSORS, step)} for step in grads],
        "configs": {},
    }
    for name, cfg in CONFIGS.items():
        res = run(cfg, init, grads)
        entry = {"config": cfg, "params": {}, "state": {}}
        for i, (n, _, _) in enumerate(TENSORS):
            entry["params"][n] = add(res["params"][i])
            for key, values in res.items():
                if key != "params" and values[i] is not None:
                    entry["state"][n + "." + key] = add(values[i])
        manifest["configs"][name] = entry
    torch.cat(blob).numpy().astype("<f4").tofile(os.path.join(out_dir, "optim.bin"))
    with open(os.path.join(out_dir, "optim.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print("wrote %d floats to %s" % (offset[0], out_dir))


if __name__ == "__main__":
    main()
