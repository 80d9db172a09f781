#!/usr/bin/env bash
# Installs what is missing and builds t5scale (Release) into build/ (or $T5SCALE_BUILD_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
BUILD_DIR="${T5SCALE_BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${T5SCALE_BUILD_TYPE:-Release}" >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target t5scale >&2
