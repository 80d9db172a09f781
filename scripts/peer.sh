#!/bin/bash
# One command: t5scale's fp32 (and, with --bf16, bf16) training step against the PyTorch peer at the same
# shape, lengths and threads, side by side with the ratio, at 1 and 2 threads with the scaling.
# Arguments pass through to benchmarks/compare.py (defaults: t5-efficient-tiny, batch 32, 128/29).
#   scripts/peer.sh                                   # tiny, 1 and 2 threads
#   scripts/peer.sh --model t5-efficient-mini --threads 2 --repeats 3
#   scripts/peer.sh --study                           # issue 17's study shapes, one row per (shape, threads)
#   scripts/peer.sh --isa avx2 --threads 2            # both sides capped to AVX2 (AVX2 rows on an AVX-512 CPU)
# Each side runs the OpenBLAS kernels of this CPU (SkylakeX only with AVX-512, Haswell with AVX2 only);
# the header says which, and the cap.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
[ -x "$ROOT/build/t5scale" ] || { echo "peer.sh: error: $ROOT/build/t5scale not built (hint: scripts/build.sh)" >&2; exit 1; }
exec /usr/bin/python3 "$ROOT/benchmarks/compare.py" --threads 1,2 "$@"
