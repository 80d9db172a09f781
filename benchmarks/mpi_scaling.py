#!/usr/bin/python3
"""Data parallelism on one machine (issue 15): 2 MPI ranks x 1 thread against 1 process x 2 threads.

Both train the same model on the same global batch (synthetic copy task, fp32, Adafactor), so their
tokens/s compare directly; the 2-rank run also reports what its MPI_Allreduce of the gradients cost per
step (bytes each rank contributes = 4 x parameters, and the wall time inside the call, waiting for the
slower rank included). The two runs alternate `--repeats` times so both see the same drift of a shared
machine; the script prints each pair and the median ratio. Not a timed test: numbers of a loaded
2-core machine are noisy.

    scripts/build.sh
    /usr/bin/python3 benchmarks/mpi_scaling.py [--model t5-efficient-tiny] [--batch 32] [--steps 12]
        [--inputs-length 128] [--targets-length 32] [--repeats 1] [--json]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train(binary, args, ranks, threads, workdir):
    cmd = [binary, "train", "--model", args.model, "--steps", str(args.steps), "--batch", str(args.batch),
           "--inputs-length", str(args.inputs_length), "--targets-length", str(args.targets_length),
           "--threads", str(threads), "--eval-batches", "1"]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    if ranks > 1:
        mpirun = shutil.which("mpirun")
        if not mpirun:
            sys.exit("mpi_scaling: mpirun not found: scripts/bootstrap.sh installs openmpi-bin")
        cmd = [mpirun, "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", str(ranks)] + cmd
    out = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"mpi_scaling: {' '.join(cmd)} failed ({out.returncode}):\n{out.stderr}")
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    if summary.get("ranks", 1) != ranks:
        sys.exit(f"mpi_scaling: asked for {ranks} ranks, the run reports {summary.get('ranks')}")
    return summary


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", default=os.path.join(ROOT, "build", "t5scale"))
    p.add_argument("--model", default="t5-efficient-tiny")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--inputs-length", type=int, default=128)
    p.add_argument("--targets-length", type=int, default=32)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print the measurements as one JSON object")
    args = p.parse_args()
    if not os.access(args.binary, os.X_OK):
        sys.exit(f"mpi_scaling: {args.binary} is not an executable (build first: scripts/build.sh)")
    with tempfile.TemporaryDirectory() as workdir:
        pairs = []
        for _ in range(args.repeats):
            one = train(args.binary, args, ranks=1, threads=2, workdir=workdir)
            two = train(args.binary, args, ranks=2, threads=1, workdir=workdir)
            pairs.append((one, two))
    rows = []
    for one, two in pairs:
        # The training step's wall time (tokens/s counts input + target positions of the global batch).
        step_seconds = args.batch * (args.inputs_length + args.targets_length) / two["tokens_per_second"]
        rows.append({"threads_2x1_tokens_per_second": one["tokens_per_second"],
                     "ranks_2x1_tokens_per_second": two["tokens_per_second"],
                     "ratio": two["tokens_per_second"] / one["tokens_per_second"],
                     "allreduce_bytes_per_step": two["allreduce_bytes_per_step"],
                     "allreduce_seconds_per_step": two["allreduce_seconds_per_step"],
                     "allreduce_share_of_step": two["allreduce_seconds_per_step"] / step_seconds,
                     "final_loss_1x2": one["final_loss"], "final_loss_2x1": two["final_loss"]})
    ratio = statistics.median(r["ratio"] for r in rows)
    if args.json:
        print(json.dumps({"model": args.model, "batch": args.batch, "inputs_length": args.inputs_length,
                          "targets_length": args.targets_length, "steps": args.steps, "runs": rows,
                          "median_ratio": ratio}))
        return
    print(f"{args.model}, batch {args.batch}, {args.inputs_length}/{args.targets_length} tokens, "
          f"{args.steps} steps, synthetic copy task, fp32")
    print(f"{'1 rank x 2 threads':>20} {'2 ranks x 1 thread':>20} {'ratio':>7} {'allreduce/step':>16} "
          f"{'allreduce s/step':>17} {'share of step':>14}")
    for r in rows:
        print(f"{r['threads_2x1_tokens_per_second']:>16.0f} t/s {r['ranks_2x1_tokens_per_second']:>16.0f} t/s "
              f"{r['ratio']:>7.3f} {r['allreduce_bytes_per_step'] / 1e6:>13.2f} MB {r['allreduce_seconds_per_step']:>17.4f} "
              f"{100 * r['allreduce_share_of_step']:>13.1f}%")
    print(f"median ratio (2 ranks x 1 thread) / (1 rank x 2 threads): {ratio:.3f}")


if __name__ == "__main__":
    main()
