#!/usr/bin/env bash
# README's test command: installs what is missing (Debian), builds Release, runs the whole suite.
#   scripts/test.sh [extra ctest args]       e.g. scripts/test.sh -R Shape
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
BUILD_DIR="${T5SCALE_BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${T5SCALE_BUILD_TYPE:-Release}" >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
cd "$BUILD_DIR"
ctest --output-on-failure -j "$(nproc)" "$@"
