#!/usr/bin/env bash
# README's main command: builds t5scale and runs the default demo (for now: exact counts of a few
# shapes, the catalogue of released checkpoints and the paper's tables).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
BIN="${T5SCALE_BUILD_DIR:-build}/t5scale"
"$BIN" info t5-efficient-tiny t5-efficient-small-dl4 t5-efficient-tiny-nl32 t5-efficient-base t5-small
echo
"$BIN" variants
echo
"$BIN" paper
