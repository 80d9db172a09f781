#!/usr/bin/env bash
# README's main command. On a fresh machine: installs what is missing, builds t5scale, prepares the
# shipped corpus and tokenizer (corpus/demo -> data/demo, no network), runs the default depth sweep
# (sweeps/demo-depth-tiny.json: four depths, 400 steps each, two worker processes of one thread), fine-tunes
# each on the sentiment task beside the same shape from random init, writes the report and plots, and
# prints where they are. About 10 minutes on 2 cores, build included.
# A rerun skips finished variants (delete results/demo-depth-tiny to start over).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
scripts/build.sh
BIN="${T5SCALE_BUILD_DIR:-build}/t5scale"
OUT=results/demo-depth-tiny
echo "demo: built in $(($(date +%s) - start)) s" >&2
"$BIN" info t5-efficient-tiny t5-efficient-small-dl4 t5-efficient-base
echo
"$BIN" data prepare --offline --out data/demo
# The downstream task (sentiment, from the npm package sentiment@5.0.2; fetched once into data/sources).
"$BIN" data prepare --tasks sentiment --out data/tasks >/dev/null
# Two one-thread workers keep both cores busy without OpenMP barriers between them (fastest on a
# small model, and robust on a shared machine).
"$BIN" sweep sweeps/demo-depth-tiny.json --out "$OUT" --jobs 2 >/dev/null
"$BIN" report "$OUT" >/dev/null
echo
"$BIN" report "$OUT" --summary
echo
echo "report: $OUT/report.md"
echo "plots:  $(ls "$OUT"/*.png 2>/dev/null | tr '\n' ' ')"
echo "records: $OUT/runs.jsonl (per-step logs in $OUT/steps/)"
echo "demo: done in $(($(date +%s) - start)) s"
