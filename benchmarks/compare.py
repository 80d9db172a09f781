#!/usr/bin/python3
"""Ours against the PyTorch peer, side by side, at the same shape, lengths and threads, in one run.

Runs `t5scale bench --json` (fp32, and bf16 with --bf16) and benchmarks/peer_pytorch.py --json,
alternating ours and the peer `--repeats` times so that both see the same drift of the shared
machine, and prints the medians and the ratios (ours / peer tokens/s, MFU against the fp32 or bf16
GEMM ceiling measured inside our process).

Kernels (issue 13): both sides run the same OpenBLAS kernels, chosen for the CPU this runs on
(kernel_env): OPENBLAS_CORETYPE=SkylakeX where /proc/cpuinfo has AVX-512 F, BW, DQ and VL (t5scale
selects it for itself there too; core/gemm.cpp), Haswell where it has AVX2 and FMA only, and unset
otherwise (each library picks). Forcing SkylakeX on an AVX2-only CPU kills the peer with SIGILL.
--isa avx2 caps both sides to AVX2 on an AVX-512 machine, so that AVX2 rows can be measured there:
OpenBLAS Haswell (T5SCALE_KEEP_OPENBLAS_CORETYPE=1 stops t5scale re-selecting SkylakeX), oneDNN
ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA=AVX2, ATen ATEN_CPU_CAPABILITY=avx2 and T5SCALE_MAX_CPU_ISA=avx2
for t5scale's own kernels (the header shows t5scale's --version isa line under that environment; a
-DT5SCALE_ARCH=native build's kernels cannot be capped and say "kernels native"). The header and
--json say what each side ran.

    /usr/bin/python3 benchmarks/compare.py --model t5-efficient-tiny --batch 32 \
        --inputs-length 128 --targets-length 29 --threads 2 [--bf16] [--repeats 2] [--isa avx2] [--json]
    /usr/bin/python3 benchmarks/compare.py --study [--isa avx2]   # issue 17's study shapes, one row each

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


# AVX-512 subsets OpenBLAS's SkylakeX kernels need (core/gemm.cpp checks the same four).
AVX512_FLAGS = frozenset({"avx512f", "avx512bw", "avx512dq", "avx512vl"})
AVX2_FLAGS = frozenset({"avx2", "fma"})
ISA_CHOICES = ("native", "avx2")
# Every variable kernel_env decides; None removes it from the children's environment, so that a cap
# left in the caller's shell cannot make a "native" run silently AVX2 (or the other way round).
KERNEL_VARIABLES = ("OPENBLAS_CORETYPE", "T5SCALE_KEEP_OPENBLAS_CORETYPE", "ONEDNN_MAX_CPU_ISA",
                    "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "T5SCALE_MAX_CPU_ISA")


def cpu_flags(cpuinfo_text):
    """The instruction-set flags of the first processor in /proc/cpuinfo's text."""
    for line in cpuinfo_text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def kernel_env(flags, isa="native"):
    """The kernel variables of both sides' environment for a CPU with `flags` (tests/compare_test.cpp).

    native: OpenBLAS SkylakeX with AVX-512 F/BW/DQ/VL, Haswell with AVX2+FMA, else unset; no caps.
    avx2: every library capped to AVX2 (needs a CPU with AVX2+FMA)."""
    flags = frozenset(flags)
    env = dict.fromkeys(KERNEL_VARIABLES)
    if isa == "native":
        if AVX512_FLAGS <= flags:
            env["OPENBLAS_CORETYPE"] = "SkylakeX"
        elif AVX2_FLAGS <= flags:
            env["OPENBLAS_CORETYPE"] = "Haswell"
    elif isa == "avx2":
        if not AVX2_FLAGS <= flags:
            raise ValueError("--isa avx2 needs a CPU with AVX2 and FMA; this one lacks "
                             "one of them (hint: --isa native)")
        env.update(OPENBLAS_CORETYPE="Haswell", T5SCALE_KEEP_OPENBLAS_CORETYPE="1", ONEDNN_MAX_CPU_ISA="AVX2",
                   DNNL_MAX_CPU_ISA="AVX2", ATEN_CPU_CAPABILITY="avx2", T5SCALE_MAX_CPU_ISA="avx2")
    else:
        raise ValueError(f"unknown --isa {isa!r} (one of {', '.join(ISA_CHOICES)})")
    return env


def child_env(base, kernels, threads):
    env = {k: v for k, v in base.items() if k not in kernels}
    env.update({k: v for k, v in kernels.items() if v is not None})
    env["OMP_NUM_THREADS"] = str(threads)
    return env


def t5scale_version_field(t5scale, env, field):
    """A line of `t5scale --version` run under `env` ("OpenBLAS", "isa": the kernels and oneDNN ISA it uses)."""
    out = subprocess.run([t5scale, "--version"], check=True, capture_output=True, text=True, env=env).stdout
    return next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith(field + ":")), "")


def describe_kernels(args, flags, env):
    """What both sides run on, for the header and --json (the peer's own report is added per run)."""
    cpu = ("AVX-512 F/BW/DQ/VL" if AVX512_FLAGS <= flags else "AVX2+FMA, no AVX-512" if AVX2_FLAGS <= flags
           else "neither AVX-512 nor AVX2+FMA")
    child = child_env(os.environ, env, 1)
    own = t5scale_version_field(args.t5scale, child, "isa") or "unknown (this binary predates its isa line)"
    return {"isa": args.isa, "cpu": cpu, "cpu_avx512": AVX512_FLAGS <= flags, "cpu_avx2": AVX2_FLAGS <= flags,
            "env": {k: v for k, v in env.items() if v is not None},
            "t5scale_openblas": t5scale_version_field(args.t5scale, child, "OpenBLAS"),
            "t5scale_own_kernels": own, "t5scale_own_kernels_capped": "capped by T5SCALE_MAX_CPU_ISA" in own}


def run_json(cmd, env):
    print("+ " + " ".join(cmd), file=sys.stderr)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="shape name (default t5-efficient-tiny)")
    ap.add_argument("--batch", type=int, help="default 32")
    ap.add_argument("--inputs-length", type=int, help="default 128")
    ap.add_argument("--targets-length", type=int, help="default 29")
    ap.add_argument("--threads", default="2", help="thread count, or a list such as 1,2 (adds the scaling); "
                    "ignored with --study")
    ap.add_argument("--study", action="store_true",
                    help="issue 17's study shapes in one go, one row per (shape, threads): " + study_help())
    ap.add_argument("--isa", choices=ISA_CHOICES, default="native",
                    help="native: each library's kernels for this CPU; avx2: cap both sides to AVX2")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=1, help="alternations of ours and the peer")
    ap.add_argument("--bf16", action="store_true", help="also time our bf16 step")
    ap.add_argument("--t5scale", default=os.path.join(ROOT, "build", "t5scale"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    shape_given = [a for a in ("model", "batch", "inputs_length", "targets_length") if getattr(args, a) is not None]
    if args.study and shape_given:
        ap.error("--study runs its own shapes; drop --" + ", --".join(a.replace("_", "-") for a in shape_given))
    try:
        with open("/proc/cpuinfo") as f:
            flags = cpu_flags(f.read())
        env = kernel_env(flags, args.isa)
    except (OSError, ValueError) as e:
        ap.error(str(e))
    kernels = describe_kernels(args, flags, env)

    if args.study:
        results = [compare(args, shape, threads, env) for shape, thread_counts in STUDY for threads in thread_counts]
        note_peer_kernels(kernels, results)
        if args.json:
            print(json.dumps({"kernels": kernels, "study": True, "comparisons": results}))
            return
        print_kernels(kernels)
        print_study(args, [r["summary"] for r in results])
        return

    shape = {k: default if getattr(args, k) is None else getattr(args, k) for k, default in DEFAULT_SHAPE.items()}
    thread_counts = [int(t) for t in str(args.threads).split(",")]
    results = [compare(args, shape, threads, env) for threads in thread_counts]
    note_peer_kernels(kernels, results)
    scaling = None
    if len(results) > 1:
        first, last = results[0]["summary"], results[-1]["summary"]
        scaling = {"threads": [thread_counts[0], thread_counts[-1]],
                   "peer": last["peer"]["tokens_per_second"] / first["peer"]["tokens_per_second"]}
        for p in precisions_of(args):
            scaling[p] = last[p]["tokens_per_second"] / first[p]["tokens_per_second"]
    if args.json:
        print(json.dumps({"kernels": kernels, "comparisons": results, "thread_scaling": scaling}))
        return
    print_kernels(kernels)
    for r in results:
        print_table(args, r["summary"])
    if scaling:
        print(f"thread scaling {scaling['threads'][0]} -> {scaling['threads'][1]} threads (tokens/s ratio): "
              + ", ".join(f"{name} {scaling[name]:.2f}x" for name in ["peer"] + precisions_of(args)))


# The performance targets (ours / peer tokens/s): fp32 at least 2x, bf16 at least 6x the fp32 peer.
TARGET_RATIO = {"fp32": 2.0, "bf16": 6.0}


def precisions_of(args):
    return ["fp32", "bf16"] if args.bf16 else ["fp32"]


DEFAULT_SHAPE = {"model": "t5-efficient-tiny", "batch": 32, "inputs_length": 128, "targets_length": 29}
# Issue 17's study shapes: (shape, thread counts).
STUDY = [({"model": "tiny-dm128-ff512-kv32-nl4", "batch": 16, "inputs_length": 64, "targets_length": 14}, [1, 2]),
         ({"model": "t5-efficient-tiny", "batch": 32, "inputs_length": 128, "targets_length": 29}, [2])]


def study_help():
    return "; ".join(f"{s['model']} B{s['batch']} {s['inputs_length']}/{s['targets_length']} at "
                     + ",".join(map(str, t)) + " thread(s)" for s, t in STUDY)


def compare(args, shape, threads, kernels):
    """Alternates ours and the peer `repeats` times at one shape and thread count; medians and ratios."""
    env = child_env(os.environ, kernels, threads)
    common = ["--batch", str(shape["batch"]), "--inputs-length", str(shape["inputs_length"]), "--targets-length",
              str(shape["targets_length"]), "--threads", str(threads), "--steps", str(args.steps)]
    precisions = precisions_of(args)
    runs = {"peer": []}
    runs.update({p: [] for p in precisions})
    for _ in range(args.repeats):
        for p in precisions:
            runs[p].append(run_json([args.t5scale, "bench", "--model", shape["model"], "--precision", p, "--json"]
                                    + common, env))
        runs["peer"].append(run_json([sys.executable, os.path.join(ROOT, "benchmarks", "peer_pytorch.py"),
                                      "--model", shape["model"], "--t5scale", args.t5scale, "--json"] + common, env))

    meta = dict(shape, threads=threads, repeats=args.repeats, steps=args.steps, isa=args.isa)
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


def note_peer_kernels(kernels, results):
    """Adds what the peer's OpenBLAS and ATen reported they ran (one set of values expected)."""
    def seen(key):
        return sorted({r.get(key, "") for c in results for r in c["runs"]["peer"]})
    kernels["peer_openblas_corename"] = seen("openblas_corename")
    kernels["peer_aten_cpu_capability"] = seen("aten_cpu_capability")


def print_kernels(kernels):
    env = " ".join(f"{k}={v}" for k, v in kernels["env"].items()) or "none set (each library picks)"
    print(f"kernels: CPU {kernels['cpu']}; --isa {kernels['isa']}; both sides' env: {env}")
    print(f"  t5scale: OpenBLAS {kernels['t5scale_openblas']}; own kernels {kernels['t5scale_own_kernels']}")
    print(f"  peer: OpenBLAS core {'/'.join(kernels['peer_openblas_corename']) or '?'}, "
          f"ATen CPU capability {'/'.join(kernels['peer_aten_cpu_capability']) or '?'}")


def print_study(args, summaries):
    """One row per (shape, threads): the peer, and ours per precision with ratio, MFU and ceiling."""
    print(f"study shapes, --isa {args.isa}, medians of {args.repeats} alternation(s) x {args.steps} steps; "
          f"tokens = batch*(inputs+targets)")
    header = f"{'shape':28}{'B':>4}{'tokens':>8}{'thr':>4}{'peer tok/s':>11}"
    for p in precisions_of(args):
        header += f"{'t5s ' + p:>11}{'ratio':>7}{'MFU':>7}{'ceiling':>9}"
    print(header + "   (ceiling: GEMM GFLOP/s)")
    for s in summaries:
        row = (f"{s['model']:28}{s['batch']:4}{str(s['inputs_length']) + '/' + str(s['targets_length']):>8}"
               f"{s['threads']:4}{s['peer']['tokens_per_second']:11.0f}")
        for p in precisions_of(args):
            row += (f"{s[p]['tokens_per_second']:11.0f}{s[p]['ratio_to_peer']:6.2f}x{100 * s[p]['mfu']:6.1f}%"
                    f"{s[p]['ceiling_flops_per_second'] / 1e9:9.1f}")
        print(row)


def print_table(args, summary):
    print(f"{summary['model']}, batch {summary['batch']}, "
          f"{summary['inputs_length']}/{summary['targets_length']} tokens, "
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
