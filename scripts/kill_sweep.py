#!/usr/bin/env python3
"""Kill loop for sweep's crash safety (opt-in; too long for ctest): SIGKILL a `sweep --jobs 2` at
random moments (the whole process group, the first process only, or its worker only), check the
results directory after every kill (no torn or duplicate record, no finished record lost, no failed
record), then finish the sweep and compare it with an uninterrupted run: the same variants, eval
losses, step counts and loss curves, every steps log 1..N once, no temporary file or checkpoint left.

Usage: scripts/kill_sweep.py [KILLS (25)] [SEED (1)]      (needs build/t5scale; about 10 s a kill)
Prints OK or the problems found; exit 1 on problems.
"""
import glob, json, os, random, shutil, signal, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
B = os.environ.get("T5SCALE", os.path.join(ROOT, "build", "t5scale"))
KILLS = int(sys.argv[1]) if len(sys.argv) > 1 else 25
SEED = int(sys.argv[2]) if len(sys.argv) > 2 else 1
WORK = tempfile.mkdtemp(prefix="t5scale_kill_")
DATA = os.path.join(ROOT, "tests", "fixtures", "data")
# Four variants of about 3 s each on 1 thread, checkpoints every 10 of 150 steps.
SPEC = os.path.join(WORK, "kill.json")
with open(SPEC, "w") as f:
    json.dump({"name": "killtest", "base": "tiny-dm64-ff128-nh2-kv32", "grid": {"nl": [1, 2, 3, 4]}, "seeds": [0],
               "budget": {"steps": 150}, "batch": 4, "inputs_length": 64, "targets_length": 14,
               "optimizer": "adafactor", "schedule": "constant", "lr": 0.01,
               "eval": {"every": 10, "batches": 2}, "checkpoint_every": 10,
               "data": {"corpus": DATA, "tokenizer": os.path.join(DATA, "spiece.model")}}, f)
OUT = os.path.join(WORK, "out")
REF = os.path.join(WORK, "ref")
subprocess.run([B, "sweep", SPEC, "--out", REF, "--jobs", "2", "--threads", "1", "--quiet"], check=True,
               stdout=subprocess.DEVNULL)
rnd = random.Random(SEED)
problems = []


def records(path):
    recs, torn = [], []
    if not os.path.exists(path):
        return recs, torn
    with open(path, "rb") as f:
        data = f.read()
    for i, line in enumerate(data.split(b"\n")):
        if not line:
            continue
        try:
            j = json.loads(line)
            assert isinstance(j, dict)
            recs.append(j)
        except Exception:
            torn.append(i + 1)
    if data and not data.endswith(b"\n"):
        torn.append("no-final-newline")
    return recs, torn


def children(pid):
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        return [int(x) for x in out.split()]
    except Exception:
        return []


def alive_sweeps():
    out = subprocess.run(["pgrep", "-f", f"sweep {SPEC} --out {OUT}"], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


finished_before = set()
kinds = {"group": 0, "first": 0, "worker": 0}
for k in range(KILLS):
    # Wait for any orphaned worker of an earlier round to end, sometimes not (overlap is legal too).
    if rnd.random() < 0.7:
        for _ in range(600):
            if not alive_sweeps():
                break
            time.sleep(0.05)
    errf = open(os.path.join(WORK, f"err{k}"), "w+b")
    p = subprocess.Popen([B, "sweep", SPEC, "--out", OUT, "--jobs", "2", "--threads", "1"],
                         stdout=subprocess.DEVNULL, stderr=errf, start_new_session=True)
    delay = rnd.uniform(0.05, 6.0)
    time.sleep(delay)
    kind = rnd.choice(["group", "first", "worker"])
    if p.poll() is not None:
        p.wait(); errf.seek(0); err = errf.read()
        print(f"kill {k}: finished before the kill (rc {p.returncode})")
        if p.returncode != 0:
            problems.append(f"round {k}: rc {p.returncode}: {err.decode()[-500:]}")
    else:
        kinds[kind] += 1
        if kind == "group":
            os.killpg(p.pid, signal.SIGKILL)
        elif kind == "first":
            os.kill(p.pid, signal.SIGKILL)
        else:
            for c in children(p.pid):
                os.kill(c, signal.SIGKILL)
        p.wait()
        time.sleep(0.2)
        errf.seek(0)
        e = errf.read().decode()
        print(f"kill {k}: {kind} at {delay:.2f}s rc {p.returncode} | {e.strip().splitlines()[-1] if e.strip() else ''}")
        if kind == "worker" and p.returncode not in (-9, 1, 0):
            problems.append(f"round {k}: worker kill -> rc {p.returncode}")
        if "internal error" in e or "Segmentation" in e or "terminate called" in e:
            problems.append(f"round {k}: {e[-800:]}")
    recs, torn = records(os.path.join(OUT, "runs.jsonl"))
    ids = [r.get("id") for r in recs]
    if torn:
        problems.append(f"round {k}: torn lines {torn}")
    if len(ids) != len(set(ids)):
        problems.append(f"round {k}: duplicate records {ids}")
    if not finished_before <= set(ids):
        problems.append(f"round {k}: lost records {finished_before - set(ids)}")
    bad = [r for r in recs if r.get("status") != "ok"]
    if bad:
        problems.append(f"round {k}: non-ok records {[(r['id'], r.get('error')) for r in bad]}")
    finished_before |= set(ids)
    if len(finished_before) == 4:
        # start over so kills keep landing inside variants
        for _ in range(600):
            if not alive_sweeps():
                break
            time.sleep(0.05)
        subprocess.run(["rm", "-rf", OUT])
        finished_before = set()
        print("  (all finished: starting over)")

for _ in range(1200):
    if not alive_sweeps():
        break
    time.sleep(0.05)
final = subprocess.run([B, "sweep", SPEC, "--out", OUT, "--jobs", "2", "--threads", "1"], capture_output=True, text=True)
if final.returncode != 0:
    problems.append(f"final run rc {final.returncode}: {final.stderr[-800:]}")
recs, torn = records(os.path.join(OUT, "runs.jsonl"))
ref, _ = records(os.path.join(REF, "runs.jsonl"))
got = {r["id"]: r for r in recs}
want = {r["id"]: r for r in ref}
if set(got) != set(want) or len(recs) != len(got):
    problems.append(f"final ids {sorted(got)} ({len(recs)} records) vs {sorted(want)}")
for i, r in want.items():
    if i in got:
        a, b = got[i]["quality"]["eval_loss"], r["quality"]["eval_loss"]
        if a != b:
            problems.append(f"{i}: eval loss {a} vs uninterrupted {b}")
        if got[i]["budget"]["steps_done"] != r["budget"]["steps_done"]:
            problems.append(f"{i}: steps_done differ")
        pa = got[i]["quality"]["loss_curve"]["points"]
        pb = r["quality"]["loss_curve"]["points"]
        if pa != pb:
            problems.append(f"{i}: loss curve points differ")
    steps = []
    with open(os.path.join(OUT, "steps", i + ".jsonl")) as f:
        for line in f:
            j = json.loads(line)
            if j["type"] == "step":
                steps.append(j["step"])
    if steps != list(range(1, len(steps) + 1)) or len(steps) != r["budget"]["steps_done"]:
        problems.append(f"{i}: steps log steps {steps[:5]}... len {len(steps)} not 1..N")
leftover = [p for p in glob.glob(os.path.join(OUT, "**"), recursive=True) if ".tmp" in os.path.basename(p) or p.endswith(".old")]
if leftover:
    problems.append(f"leftover temporary files: {leftover}")
if os.listdir(os.path.join(OUT, "checkpoints")):
    problems.append(f"leftover checkpoints: {os.listdir(os.path.join(OUT, 'checkpoints'))}")
print("kinds", kinds)
print("PROBLEMS:" if problems else "OK", *problems, sep="\n")
if not problems:
    shutil.rmtree(WORK)
sys.exit(1 if problems else 0)
