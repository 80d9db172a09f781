// The released google/t5-efficient-* checkpoints of "Scale Efficiently" (Tay et al., ICLR 2022) as
// data: each name with the sweep it belongs to and the shape its name means (SPEC.md §1). Where the
// list comes from and which entries are uncertain is written in core/catalogue.cpp.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/shape.h"

namespace t5 {

struct CatalogueEntry {
  std::string name;    // Hugging Face id without the "google/" owner: "t5-efficient-small-el16-dl8"
  std::string size;    // standard size the knobs apply to: "small"
  std::string sweep;   // "standard", "nl", "el", "dl", "el-dl", "dm", "ff", "kv", "nh" or "nh-nl"
  Shape shape;         // what the name means (parse_shape_name(name))
  std::string note;    // a known quirk of the released checkpoint, empty if none
};

// Every entry, grouped by size (tiny .. xxl) and, within a size, by sweep in sweep_names() order.
const std::vector<CatalogueEntry>& catalogue();

// The sweep labels in the order the paper's tables group them.
const std::vector<std::string>& sweep_names();

// Entries of `size` (nullopt: any) whose sweep varies `knob` (nullopt: any); an empty string is a choice
// like any other and is rejected (`--size ''` must not silently list everything). `knob` is one of the grammar's
// knobs (el, dl, nl, dm, ff, kv, nh: "el" also matches the el-dl sweep) or a sweep label
// ("standard", "el-dl", "nh-nl"). Throws t5::Error listing the valid choices for an unknown size or knob.
std::vector<CatalogueEntry> filter_catalogue(const std::optional<std::string>& size,
                                             const std::optional<std::string>& knob);

// The entry with this name (with or without the "t5-efficient-" prefix or the "google/" owner), or null.
const CatalogueEntry* find_in_catalogue(const std::string& name);

}  // namespace t5
