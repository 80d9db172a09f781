// A shape with its exact counts, as one JSON object (the `info` / `variants` record) and as a row of
// human text. Shared by every command that reports shapes.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/counts.h"
#include "core/shape.h"

namespace t5 {

// {name, el, dl, dm, ff, kv, nh, inner, vocab_size, feed_forward_proj, tie_word_embeddings, params,
//  params_breakdown, lengths, flops, memory}
nlohmann::json describe_shape(const Shape& s, const Lengths& len);

// One aligned text line per shape, with a header line from describe_header().
std::string describe_header();
std::string describe_row(const Shape& s, const Lengths& len);

// 60506624 -> "60.51M"; 1.42e11 -> "142.0G".
std::string human_count(double value);
// 60506624 -> "60,506,624".
std::string with_commas(int64_t value);

}  // namespace t5
