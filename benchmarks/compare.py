#!/usr/bin/python3
"""Ours against the PyTorch peer, side by side, at the same shape, lengths and threads, in one run.

Runs `t5scale bench --json` (fp32, and bf16 with --bf16) and benchmarks/peer_pytorch.py --json,
alternating ours and the peer `--repeats` times so that both see the same drift of the shared
machine, and prints the medians and the ratios (ours / peer tokens/s, MFU against the fp32 or bf16
GEMM ceiling measured inside our process). Both sides use OpenBLAS's AVX-512 kernels
(OPENBLAS_CORETYPE=SkylakeX, which t5scale also selects for itself; core/gemm.cpp).

    /usr/bin/python3 benchmarks/compare.py --model t5-efficient-tiny --batch 32 \
        --inputs-length 128 --targets-length 29 --threads 2 [--bf16] [--repeats 2] [--json]

--threads 1,2 runs the whole comparison at each thread count and adds the thread scaling (tokens/s at
the last count over the first) of ours and of the peer. scripts/peer.sh is the one-command wrapper.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_json(cmd, env):
    print("+ " + " ".join(cmd), file=sys.stderr)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="t5-efficient-tiny")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--inputs-length", type=int, default=128)
    ap.add_argument("--targets-length", type=int, default=29)
    ap.add_argument("--threads", default="2", help="thread count, or a list such as 1,2 (adds the scaling)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=1, help="alternations of ours and the peer")
    ap.add_argument("--bf16", action="store_true", help="also time our bf16 step")
    ap.add_argument("--t5scale", default=os.path.join(ROOT, "build", "t5scale"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    thread_counts = [int(t) for t in str(args.threads).split(",")]
    results = [compare(args, threads) for threads in thread_counts]
    scaling = None
    if len(results) > 1:
        first, last = results[0]["summary"], results[-1]["summary"]
        scaling = {"threads": [thread_counts[0], thread_counts[-1]],
                   "peer": last["peer"]["tokens_per_second"] / first["peer"]["tokens_per_second"]}
        for p in precisions_of(args):
            scaling[p] = last[p]["tokens_per_second"] / first[p]["tokens_per_second"]
    if args.json:
        print(json.dumps({"comparisons": results, "thread_scaling": scaling}))
        return
    for r in results:
        print_table(args, r["summary"])
    if scaling:
        print(f"thread scaling {scaling['threads'][0]} -> {scaling['threads'][1]} threads (tokens/s ratio): "
              + ", ".join(f"{name} {scaling[name]:.2f}x" for name in ["peer"] + precisions_of(args)))


# The performance targets (ours / peer tokens/s): fp32 at least 2x, bf16 at least 6x the fp32 peer.
TARGET_RATIO = {"fp32": 2.0, "bf16": 6.0}


def precisions_of(args):
    return ["fp32", "bf16"] if args.bf16 else ["fp32"]


def compare(args, threads):
    """Alternates ours and the peer `repeats` times at one thread count; medians and ratios."""
    env = dict(os.environ, OPENBLAS_CORETYPE="SkylakeX", OMP_NUM_THREADS=str(threads))
    common = ["--batch", str(args.batch), "--inputs-length", str(args.inputs_length), "--targets-length",
              str(args.targets_length), "--threads", str(threads), "--steps", str(args.steps)]
    precisions = precisions_of(args)
    runs = {"peer": []}
    runs.update({p: [] for p in precisions})
    for _ in range(args.repeats):
        for p in precisions:
            runs[p].append(run_json([args.t5scale, "bench", "--model", args.model, "--precision", p, "--json"]
                                    + common, env))
        runs["peer"].append(run_json([sys.executable, os.path.join(ROOT, "benchmarks", "peer_pytorch.py"),
                                      "--model", args.model, "--t5scale", args.t5scale, "--json"] + common, env))

    meta = {"model": args.model, "batch": args.batch, "inputs_length": args.inputs_length,
            "targets_length": args.targets_length, "threads": threads, "repeats": args.repeats,
            "steps": args.steps}
    return {"summary": summarize(meta, runs, precisions), "runs": runs}


def summarize(meta, runs, precisions):
    """Medians over the alternations, the ratios to the peer and the ceiling bound (tests/compare_test.cpp)."""
    def med(name, key):
        return statistics.median(r[key] for r in runs[name])

    peer_tps = med("peer", "tokens_per_second")
    summary = dict(meta)
    summary["peer"] = {"tokens_per_second": peer_tps, "flops_per_second": med("peer", "flops_per_second"),
                       "step_seconds": med("peer", "step_seconds")}
    for p in precisions:
        summary[p] = {"tokens_per_second": med(p, "tokens_per_second"),
                      "flops_per_second": med(p, "flops_per_second"), "step_seconds": med(p, "step_seconds"),
                      "ceiling_flops_per_second": statistics.median(r["ceiling"]["flops_per_second"] for r in runs[p]),
                      "mfu": med(p, "mfu"), "peak_rss_over_estimate": med(p, "peak_rss_over_estimate"),
                      "ratio_to_peer": med(p, "tokens_per_second") / peer_tps,
                      # "bf16 (emulated)" on a CPU without a bf16 matmul: f32 speed, not bf16's.
                      "precision_label": runs[p][-1].get("precision_label", p) if runs[p] else p}
        # Both sides do the same FLOPs per token, so tokens/s ratios equal FLOP/s ratios: at 100% of
        # its ceiling ours would be ceiling / peer FLOP/s times the peer, and the target needs
        # target * peer FLOP/s of the ceiling.
        peer_flops = summary["peer"]["flops_per_second"]
        ceiling = summary[p]["ceiling_flops_per_second"]
        summary[p]["ratio_at_full_ceiling"] = ceiling / peer_flops
        summary[p]["target_ratio"] = TARGET_RATIO[p]
        summary[p]["mfu_needed_for_target"] = TARGET_RATIO[p] * peer_flops / ceiling
    return summary


def print_table(args, summary):
    print(f"{args.model}, batch {args.batch}, {args.inputs_length}/{args.targets_length} tokens, "
          f"{summary['threads']} threads, medians of {args.repeats} alternation(s) x {args.steps} steps; "
          f"tokens = batch*(inputs+targets), FLOPs = SPEC §3 exact")
    print(f"{'':27}{'s/step':>9}{'tokens/s':>11}{'GFLOP/s':>9}{'ceiling':>9}{'MFU':>7}{'RSS/est':>8}{'vs peer':>9}")
    p = summary["peer"]
    print(f"{'pytorch (fp32)':27}{p['step_seconds']:9.3f}{p['tokens_per_second']:11.0f}"
          f"{p['flops_per_second'] / 1e9:9.1f}{'':9}{'':7}{'':8}{1.0:8.2f}x")
    for name in precisions_of(args):
        s = summary[name]
        print(f"{'t5scale (' + s['precision_label'] + ')':27}{s['step_seconds']:9.3f}{s['tokens_per_second']:11.0f}"
              f"{s['flops_per_second'] / 1e9:9.1f}{s['ceiling_flops_per_second'] / 1e9:9.1f}"
              f"{100 * s['mfu']:6.1f}%{s['peak_rss_over_estimate']:8.2f}{s['ratio_to_peer']:8.2f}x")
    for name in precisions_of(args):
        s = summary[name]
        print(f"bound ({s['precision_label']}): at 100% of its same-run ceiling t5scale would be {s['ratio_at_full_ceiling']:.2f}x "
              f"the peer; {s['target_ratio']:g}x needs {100 * s['mfu_needed_for_target']:.1f}% MFU "
              f"(now {100 * s['mfu']:.1f}%)")


if __name__ == "__main__":
    main()
