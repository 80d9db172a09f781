#!/usr/bin/python3
"""The PyTorch peer: an HF-faithful T5 training step in eager mode (AdamW), timed like `t5scale bench`.

The model is tests/reference/t5_reference.py (the same code the parity tests are checked against),
run in float32 with autograd; the step is zero_grad + forward + cross entropy over all Ld label tokens
+ backward + torch.optim.AdamW.step. The batch is seeded random token ids without padding (the same
kind of batch `t5scale bench` times). FLOPs are the exact matmul count of SPEC.md §3, read from
`t5scale info --json`; tokens = batch * (inputs + targets), as in `t5scale bench`.

Run with Debian's interpreter (torch 1.13; MACHINE.md):
    /usr/bin/python3 benchmarks/peer_pytorch.py --model t5-efficient-tiny --batch 32 \
        --inputs-length 128 --targets-length 29 --threads 2 [--json]
Kernels: Debian's torch uses the OpenMP OpenBLAS, which reads OPENBLAS_CORETYPE at load time, its bundled
oneDNN reads ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA and ATen reads ATEN_CPU_CAPABILITY; benchmarks/compare.py
chooses them per CPU (and --isa) for both sides. The JSON records what ran: the OpenBLAS core OpenBLAS
itself reports (openblas_corename) beside the requested OPENBLAS_CORETYPE, and ATen's CPU capability.
"""
import argparse
import ctypes
import json
import os
import re
import statistics
import subprocess
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import t5_reference  # noqa: E402  (HF-faithful reference model of the parity tests)


def shape_info(t5scale, model, batch, inputs_length, targets_length):
    out = subprocess.run([t5scale, "info", model, "--json", "--batch", str(batch), "--inputs-length",
                          str(inputs_length), "--targets-length", str(targets_length)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)[0]


def hf_config(info):
    return dict(d_model=info["dm"], d_kv=info["kv"], num_heads=info["nh"], d_ff=info["ff"],
                num_layers=info["el"], num_decoder_layers=info["dl"], vocab_size=info["vocab_size"],
                feed_forward_proj=info["feed_forward_proj"], tie_word_embeddings=info["tie_word_embeddings"],
                relative_attention_num_buckets=32, relative_attention_max_distance=128)


def init_params(config, gen):
    """HF init statistics (SPEC.md §4); values do not change the speed, only keep the loss finite."""
    dm, kv = config["d_model"], config["d_kv"]
    params = {}
    for name, shape in t5_reference.param_list(config):
        if name.endswith("layer_norm.weight"):
            t = torch.ones(shape)
        elif name == "shared.weight":
            t = torch.randn(shape, generator=gen)
        elif name.endswith(".q.weight"):
            t = torch.randn(shape, generator=gen) * (dm * kv) ** -0.5
        else:
            t = torch.randn(shape, generator=gen) * shape[1] ** -0.5
        params[name] = t.requires_grad_(True)
    return params


def loaded_openblas():
    """The OpenBLAS torch loaded (Debian: libblas.so.3 of openblas-openmp): its config and core name."""
    try:
        lib = ctypes.CDLL("libblas.so.3")
        config, corename = lib.openblas_get_config, lib.openblas_get_corename
    except (OSError, AttributeError):
        return "", ""  # not OpenBLAS (e.g. reference BLAS): nothing to report
    config.restype = corename.restype = ctypes.c_char_p
    return config().decode(), corename().decode()


def aten_cpu_capability():
    match = re.search(r"CPU capability usage: (\S+)", torch.__config__.show())
    return match.group(1) if match else ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="t5-efficient-tiny")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--inputs-length", type=int, default=128)
    ap.add_argument("--targets-length", type=int, default=29)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5, help="timed steps; the median is reported")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--t5scale", default=os.path.join(ROOT, "build", "t5scale"))
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    info = shape_info(args.t5scale, args.model, args.batch, args.inputs_length, args.targets_length)
    config = hf_config(info)
    gen = torch.Generator().manual_seed(args.seed)
    params = init_params(config, gen)
    model = t5_reference.T5Reference(config, params)
    optimizer = torch.optim.AdamW(list(params.values()), lr=1e-3, weight_decay=0.0)
    V, B, Le, Ld = config["vocab_size"], args.batch, args.inputs_length, args.targets_length
    input_ids = torch.randint(3, V, (B, Le), generator=gen)
    attention_mask = torch.ones(B, Le, dtype=torch.long)
    masks = t5_reference.hf_masks(attention_mask, Ld)  # no padding: encoder keys all visible, decoder causal
    labels = torch.randint(3, V, (B, Ld), generator=gen)
    decoder_input_ids = t5_reference.shift_right(labels)

    def step():
        optimizer.zero_grad(set_to_none=True)
        logits = model.forward(input_ids, decoder_input_ids, *masks)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), labels.reshape(-1), ignore_index=-100)
        loss.backward()
        optimizer.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    times, losses = [], []
    for i in range(args.steps):
        t0 = time.perf_counter()
        losses.append(step())
        times.append(time.perf_counter() - t0)
        print(f"peer step {i + 1}/{args.steps}: {times[-1]:.3f} s", file=sys.stderr)
    seconds = statistics.median(times)
    openblas_config, openblas_corename = loaded_openblas()
    tokens = B * (Le + Ld)
    flops = info["flops"]["train_per_step"]
    result = {
        "implementation": "pytorch-eager", "torch": torch.__version__, "threads": torch.get_num_threads(),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""), "openblas_config": openblas_config,
        "openblas_corename": openblas_corename, "aten_cpu_capability": aten_cpu_capability(),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", os.environ.get("DNNL_MAX_CPU_ISA", "")),
        "model": args.model, "batch": B,
        "inputs_length": Le, "targets_length": Ld, "precision": "fp32", "optimizer": "adamw",
        "step_seconds": seconds, "step_seconds_all": times, "tokens_per_step": tokens,
        "tokens_per_second": tokens / seconds, "flops_per_step": flops, "flops_per_second": flops / seconds,
        "loss_first": losses[0], "loss_last": losses[-1],
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"peer {args.model} batch {B} {Le}/{Ld} threads {result['threads']}: "
              f"{seconds:.3f} s/step, {result['tokens_per_second']:.0f} tokens/s (B*(Le+Ld)), "
              f"{result['flops_per_second'] / 1e9:.1f} GFLOP/s (SPEC §3 exact)")


if __name__ == "__main__":
    main()
