#!/usr/bin/python3
"""bf16 mixed precision against fp32 over a training run: same init, same data, same steps.

Trains the same model twice with `t5scale train` (--precision fp32, then bf16; identical seeds, so
both see the same batches in the same order) and reports the largest relative difference of the two
training-loss curves, |loss_bf16 - loss_fp32| / loss_fp32 over all steps, plus the same over a moving
average (per-step losses of two diverging trajectories are noisier than the curves they trace), the
final eval losses, and both runs' tokens/s. Issue 6's bound: within 1% over 300 steps. A long check
(minutes), so it is a benchmark, not part of ctest.

    /usr/bin/python3 benchmarks/bf16_loss_curve.py [--model t5-efficient-tiny] [--steps 300] \
        [--batch 16] [--inputs-length 128] [--data corpus/demo] [--json]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train(args, precision, out_dir):
    path = os.path.join(out_dir, precision + ".jsonl")
    cmd = [args.t5scale, "train", "--model", args.model, "--steps", str(args.steps), "--batch", str(args.batch),
           "--inputs-length", str(args.inputs_length), "--data", args.data, "--lr", str(args.lr),
           "--optimizer", args.optimizer, "--seed", "0", "--init-seed", "0", "--eval-batches", "4",
           "--precision", precision, "--json-out", path]
    print("+ " + " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    steps, evals, summary = [], [], None
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r["type"] == "step":
                steps.append(r["loss"])
            elif r["type"] == "eval":
                evals.append(r["loss"])
            elif r["type"] == "summary":
                summary = r
    return steps, evals, summary


def moving_average(xs, window):
    out, acc = [], 0.0
    for i, x in enumerate(xs):
        acc += x
        if i >= window:
            acc -= xs[i - window]
        out.append(acc / min(i + 1, window))
    return out


def max_relative(a, b):
    """max_i |a_i - b_i| / |b_i| and the index where it is reached."""
    worst, at = 0.0, 0
    for i, (x, y) in enumerate(zip(a, b)):
        d = abs(x - y) / abs(y)
        if d > worst:
            worst, at = d, i
    return worst, at


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="t5-efficient-tiny")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--inputs-length", type=int, default=128)
    ap.add_argument("--data", default=os.path.join(ROOT, "corpus", "demo"))
    ap.add_argument("--optimizer", default="adafactor")
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--window", type=int, default=10, help="moving-average window of the smoothed comparison")
    ap.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS for both runs (0 = all cores)")
    ap.add_argument("--t5scale", default=os.path.join(ROOT, "build", "t5scale"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        f32, f32_eval, f32_sum = train(args, "fp32", tmp)
        b16, b16_eval, b16_sum = train(args, "bf16", tmp)
    assert len(f32) == len(b16) == args.steps, (len(f32), len(b16))
    raw, raw_at = max_relative(b16, f32)
    smooth, smooth_at = max_relative(moving_average(b16, args.window), moving_average(f32, args.window))
    result = {
        "model": args.model, "steps": args.steps, "batch": args.batch, "inputs_length": args.inputs_length,
        "data": args.data, "optimizer": args.optimizer, "lr": args.lr,
        "max_relative_difference": raw, "at_step": raw_at + 1,
        "max_relative_difference_smoothed": smooth, "smoothing_window": args.window, "smoothed_at_step": smooth_at + 1,
        "loss_first": {"fp32": f32[0], "bf16": b16[0]}, "loss_last": {"fp32": f32[-1], "bf16": b16[-1]},
        "eval_loss": {"fp32": f32_eval[-1] if f32_eval else None, "bf16": b16_eval[-1] if b16_eval else None},
        "tokens_per_second": {"fp32": f32_sum["tokens_per_second"], "bf16": b16_sum["tokens_per_second"]},
        "within_1_percent": raw <= 0.01,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.model} {args.steps} steps, batch {args.batch}, {args.inputs_length} input tokens, {args.data}")
    print(f"loss fp32 {f32[0]:.4f} -> {f32[-1]:.4f}, bf16 {b16[0]:.4f} -> {b16[-1]:.4f}")
    print(f"max relative difference per step  {100 * raw:.3f}% (step {raw_at + 1})")
    print(f"max relative difference, {args.window}-step moving average  {100 * smooth:.3f}% (step {smooth_at + 1})")
    if f32_eval and b16_eval:
        print(f"eval loss fp32 {f32_eval[-1]:.4f}, bf16 {b16_eval[-1]:.4f}")
    print(f"tokens/s fp32 {f32_sum['tokens_per_second']:.0f}, bf16 {b16_sum['tokens_per_second']:.0f}")
    print("within 1%: " + ("yes" if raw <= 0.01 else "no"))


if __name__ == "__main__":
    main()
