#!/usr/bin/python3
"""The portable build against a -march=native build of the same commit, side by side, in one run.

The default build targets x86-64-v2 and dispatches our own kernels at run time (core/kernels/); a
native build (cmake -DT5SCALE_ARCH=native) compiles everything for this CPU. Issue 13's target: the
portable build within 3% of the native one on the machine at hand. Alternates `t5scale bench --json`
of the two binaries `--repeats` times per shape (both see the same drift of a shared machine) and
prints the medians and the ratio portable / native tokens/s.

    scripts/build.sh && cmake -S . -B build-native -DT5SCALE_ARCH=native -DCMAKE_BUILD_TYPE=Release \
        && cmake --build build-native -j2 --target t5scale
    /usr/bin/python3 benchmarks/portable_vs_native.py [--repeats 5] [--threads 2] [--json]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (model, batch, inputs, targets, precision): the README's table shape, the study shape of issue 17, bf16.
SHAPES = [("t5-efficient-tiny", 32, 128, 29, "fp32"),
          ("tiny-dm128-ff512-kv32-nl4", 16, 64, 14, "fp32"),
          ("t5-efficient-tiny", 32, 128, 29, "bf16")]


def bench(binary, shape, threads, steps):
    model, batch, inputs, targets, precision = shape
    cmd = [binary, "bench", "--model", model, "--batch", str(batch), "--inputs-length", str(inputs),
           "--targets-length", str(targets), "--precision", precision, "--threads", str(threads),
           "--steps", str(steps), "--json"]
    print("+ " + " ".join(cmd), file=sys.stderr)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS=str(threads))).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--portable", default=os.path.join(ROOT, "build", "t5scale"))
    ap.add_argument("--native", default=os.path.join(ROOT, "build-native", "t5scale"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    for b in (args.portable, args.native):
        if not os.access(b, os.X_OK):
            sys.exit(f"portable_vs_native.py: error: {b} is not built (hint: see this script's docstring)")
    rows = []
    for shape in SHAPES:
        runs = {"portable": [], "native": []}
        for _ in range(args.repeats):
            for name in ("portable", "native"):
                runs[name].append(bench(getattr(args, name), shape, args.threads, args.steps))
        med = {name: statistics.median(r["tokens_per_second"] for r in runs[name]) for name in runs}
        rows.append({"model": shape[0], "batch": shape[1], "inputs_length": shape[2], "targets_length": shape[3],
                     "precision": shape[4], "threads": args.threads, "repeats": args.repeats,
                     "portable_tokens_per_second": med["portable"], "native_tokens_per_second": med["native"],
                     "ratio": med["portable"] / med["native"],
                     "kernels": runs["portable"][0].get("cpu_isa", {}).get("kernels", "?"),
                     "cpu": runs["portable"][0].get("cpu_isa", {}).get("model", "?")})
    if args.json:
        print(json.dumps({"rows": rows}))
        return
    print(f"portable (x86-64-v2 + dispatched kernels) vs -march=native, {args.threads} threads, "
          f"medians of {args.repeats} alternations x {args.steps} steps; CPU {rows[0]['cpu']}, "
          f"portable kernels {rows[0]['kernels']}")
    print(f"{'shape':44}{'native tok/s':>13}{'portable tok/s':>15}{'portable/native':>16}")
    for r in rows:
        shape = f"{r['model']} B{r['batch']} {r['inputs_length']}/{r['targets_length']} {r['precision']}"
        print(f"{shape:44}{r['native_tokens_per_second']:13.0f}{r['portable_tokens_per_second']:15.0f}"
              f"{r['ratio']:15.3f}x")


if __name__ == "__main__":
    main()
