#!/usr/bin/python3
"""Greedy decoding speed, ours against the PyTorch peer, side by side in one run (issue 14).

Both sides decode the same inputs with the same weights: `t5scale init` (HF init, --seed) of --model in
a scratch directory, --batch random inputs of --inputs-length ids each (the last one EOS, seeded), greedy,
--max-new-tokens steps for every row (--ignore-eos on both sides, so the work is the same whatever the
random weights predict). Ours is `t5scale generate --bench R --ignore-eos --json` (encoder once, per-layer
self-attention KV cache, cross-attention K/V once; downstream/generate.cpp); the peer is
benchmarks/generate_peer.py (eager PyTorch over tests/reference/t5_reference.py with a KV cache, as
transformers' greedy generate with use_cache). Each process decodes once to warm up and then
--timed times; processes alternate ours / peer --repeats times per thread count so both see the same
drift of a shared machine; the figure is the median over all timed decodes of a side. Rate = generated
tokens / wall seconds of a whole decode, encoder included. Both sides get the kernel environment of
benchmarks/compare.py (the same OpenBLAS core type for the CPU at hand). The header names the CPU and
the load average. Beside the wall-time ratio, the ratio of CPU seconds per decode (all threads, user +
system): on a shared machine wall time stretches with the other jobs, CPU time far less (at 2 threads it
also counts threads spinning at joins). The outputs of the two sides are compared token by token (agreement, not required:
fp32 rounding differs and random weights make near-ties).

    /usr/bin/python3 benchmarks/generate_compare.py [--model t5-efficient-tiny] [--batch 32] \
        [--inputs-length 128] [--max-new-tokens 32] [--threads 1,2] [--repeats 3] [--timed 2] [--json]
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
from compare import child_env, cpu_flags, kernel_env  # noqa: E402


def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def load_average():
    return open("/proc/loadavg").read().split()[0]


def run_json(cmd, env):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def agreement(a, b):
    same = total = 0
    for x, y in zip(a, b):
        total += max(len(x), len(y))
        same += sum(1 for p, q in zip(x, y) if p == q)
    return same / total if total else 1.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="t5-efficient-tiny")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--inputs-length", type=int, default=128)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=3, help="alternations of ours and the peer per thread count")
    ap.add_argument("--timed", type=int, default=2, help="timed decodes per process (after one warm-up)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--t5scale", default=os.path.join(ROOT, "build", "t5scale"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    flags = cpu_flags(open("/proc/cpuinfo").read())
    kernels = kernel_env(flags)
    with tempfile.TemporaryDirectory(prefix="t5scale-generate-compare-") as tmp:
        weights = os.path.join(tmp, "w")
        subprocess.run([args.t5scale, "init", "--model", args.model, "--seed", str(args.seed), "--out", weights],
                       check=True, capture_output=True)
        config = json.load(open(os.path.join(weights, "config.json")))
        rng = random.Random(args.seed)
        inputs = os.path.join(tmp, "inputs.jsonl")
        with open(inputs, "w") as f:
            for _ in range(args.batch):
                ids = [rng.randrange(3, config["vocab_size"] - 100) for _ in range(args.inputs_length - 1)] + [1]
                f.write(json.dumps({"input_ids": ids}) + "\n")
        ours_cmd = [args.t5scale, "generate", "--model", os.path.join(weights, "config.json"), "--weights", weights,
                    "--inputs", inputs, "--batch", str(args.batch), "--max-length", str(args.max_new_tokens),
                    "--ignore-eos", "--bench", str(args.timed), "--json"]
        peer_cmd = ["/usr/bin/python3", os.path.join(ROOT, "benchmarks", "generate_peer.py"), "--model-dir", weights,
                    "--inputs", inputs, "--batch", str(args.batch), "--max-new-tokens", str(args.max_new_tokens),
                    "--ignore-eos", "--repeats", str(args.timed), "--json"]
        rows = []
        load_start = load_average()
        for threads in [int(t) for t in args.threads.split(",")]:
            env = child_env(os.environ, kernels, threads)
            ours, peer = [], []
            for _ in range(args.repeats):
                ours.append(run_json(ours_cmd + ["--threads", str(threads)], env))
                peer.append(run_json(peer_cmd + ["--threads", str(threads)], env))
            ours_s = statistics.median([s for r in ours for s in r["seconds_all"]])
            peer_s = statistics.median([s for r in peer for s in r["seconds_all"]])
            ours_cpu = statistics.median([s for r in ours for s in r["cpu_seconds_all"]])
            peer_cpu = statistics.median([s for r in peer for s in r["cpu_seconds_all"]])
            tokens = ours[-1]["generated_tokens"]
            assert tokens == peer[-1]["generated_tokens"] == args.batch * args.max_new_tokens
            rows.append({"threads": threads, "peer_tokens_per_second": tokens / peer_s,
                         "ours_tokens_per_second": tokens / ours_s, "ratio": peer_s / ours_s,
                         "peer_seconds": peer_s, "ours_seconds": ours_s,
                         "peer_cpu_seconds": peer_cpu, "ours_cpu_seconds": ours_cpu, "cpu_ratio": peer_cpu / ours_cpu,
                         "peer_seconds_all": [s for r in peer for s in r["seconds_all"]],
                         "ours_seconds_all": [s for r in ours for s in r["seconds_all"]],
                         "token_agreement": agreement(ours[-1]["output_ids"], peer[-1]["output_ids"])})
        meta = {"model": args.model, "batch": args.batch, "inputs_length": args.inputs_length,
                "max_new_tokens": args.max_new_tokens, "cpu": cpu_model(),
                "cpu_flags": sorted(flags & {"avx2", "avx512f", "avx512_bf16", "amx_bf16"}),
                "load_average_start": load_start, "load_average_end": load_average(),
                "openblas_coretype": kernels.get("OPENBLAS_CORETYPE") or "", "peer_torch": peer[-1]["torch"],
                "repeats": args.repeats, "timed_per_process": args.timed}
    if args.json:
        print(json.dumps({"context": meta, "rows": rows}))
        return
    print(f"greedy decode, {args.model}, batch {args.batch}, inputs {args.inputs_length}, {args.max_new_tokens} new "
          f"tokens every row; CPU {meta['cpu']} ({', '.join(meta['cpu_flags'])}); load average "
          f"{load_start} -> {meta['load_average_end']}; medians of {args.repeats} x {args.timed} decodes per side")
    print(f"{'threads':>7} {'PyTorch tok/s':>14} {'t5scale tok/s':>14} {'ratio':>7} {'CPU-s ratio':>12} "
          f"{'same tokens':>12}")
    for r in rows:
        print(f"{r['threads']:>7} {r['peer_tokens_per_second']:>14.0f} {r['ours_tokens_per_second']:>14.0f} "
              f"{r['ratio']:>6.2f}x {r['cpu_ratio']:>11.2f}x {100 * r['token_agreement']:>11.1f}%")


if __name__ == "__main__":
    main()
