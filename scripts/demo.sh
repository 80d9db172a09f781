#!/usr/bin/env bash
# README's main command: builds t5scale and runs the default demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
BIN="${T5SCALE_BUILD_DIR:-build}/t5scale"
"$BIN" info t5-efficient-tiny t5-efficient-small-dl4 t5-efficient-tiny-nl32 t5-efficient-base t5-small
