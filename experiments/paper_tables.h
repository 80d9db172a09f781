// The tables a reader of "Scale Efficiently" (Tay et al., ICLR 2022) wants beside our exact numbers:
// the standard sizes with the model cards' stated "#params", the released variants grouped by sweep,
// and the DeepNarrow comparisons the paper discusses (SPEC.md §1–§3). `t5scale paper` prints them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/counts.h"

namespace t5 {

// A figure a Hugging Face model card states for one checkpoint: "It has X million parameters".
// The cards compute X as pytorch_model.bin's byte size / 4e6, so X is a file size, not a count:
// it runs a little above the exact count (the file's per-tensor pickle/zip overhead).
struct CardFigure {
  std::string name;          // "t5-efficient-base"
  double millions = 0;       // as printed on the card, e.g. 222.93
  std::string source;        // where we read it
};

// The card figures we could source (see paper_tables.cpp); a checkpoint absent here has no sourced
// figure and the tables say so instead of guessing one.
const std::vector<CardFigure>& card_figures();
std::optional<CardFigure> card_figure(const std::string& name);

// One DeepNarrow comparison: a deeper, narrower shape against the next standard size.
struct DeepNarrowPair {
  std::string deep;        // e.g. "t5-efficient-small-nl16"
  std::string reference;   // e.g. "t5-efficient-base"
};
const std::vector<DeepNarrowPair>& deep_narrow_pairs();

// All three tables as one JSON object:
// {lengths, notes[], standard_sizes[], released_variants[{size, sweep, checkpoints[]}], deep_narrow[]}.
nlohmann::json paper_tables(const Lengths& len);

// The same tables as aligned human text.
std::string paper_tables_text(const nlohmann::json& tables);

}  // namespace t5
