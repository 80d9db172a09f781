// Shape names as the paper writes them (SPEC.md §1): `t5-efficient-<size>[-<knob><value>]...`,
// with or without the `t5-efficient-` prefix, plus the classic families t5-{small,base,large,3b,11b}
// (v1.0: ReLU, tied) and t5-v1_1-{small,base,large,xl,xxl} (gated-GELU, untied).
// Besides the valued knobs, two flags of the model cards' abbreviation table take no value: `skv`
// (key and value projections tied, Mesh TF shared_kv) and `sh` (attention projections shared across a
// stack's layers; core/shape.h says why this reading), e.g. small-skv, base-sh, small-dl4-skv.
#pragma once

#include <string>
#include <vector>

#include "core/shape.h"

namespace t5 {

struct NamedSize {
  std::string size;   // "tiny", "small", ...
  Shape shape;
};

// The t5-efficient standard sizes, smallest first.
const std::vector<NamedSize>& efficient_sizes();
// The classic families, keyed by full name ("t5-small", "t5-v1_1-base", ...).
const std::vector<NamedSize>& classic_models();

// The knobs of the grammar, in the order the paper writes them: el, dl, nl, dm, ff, kv, nh.
const std::vector<std::string>& shape_knobs();
// The valueless flags: sh, skv. ("shkv", the released checkpoints' spelling of both, is also read.)
const std::vector<std::string>& shape_flags();
// The standard sizes' names, smallest first ("tiny", ..., "xxl").
std::vector<std::string> efficient_size_names();
// "a, b, c": lists of valid choices in error hints.
std::string join_list(const std::vector<std::string>& items);

// Parses a shape name; throws t5::Error naming the bad part and listing valid sizes and knobs.
// Knobs apply left to right (flags anywhere after the size); values of dm, ff and kv written in
// thousands mean multiples of 1024
// (ff2000 -> 2048). A Hugging Face owner prefix "google/" is accepted and ignored. The returned
// shape's name is the name as given.
Shape parse_shape_name(const std::string& name);

// A canonical short id for a shape name: the `t5-efficient-` prefix dropped ("small-dl4").
std::string short_name(const std::string& name);

// A shape argument on the command line: a path to a JSON file (ours or HF's config.json) if it
// ends in ".json" or names an existing file, a directory holding a config.json (a Hugging Face
// checkpoint), otherwise a shape name.
Shape resolve_shape(const std::string& argument);

}  // namespace t5
