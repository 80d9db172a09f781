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

// One aligned text line per shape, with a header line from describe_header(): name, el, dl, dm, ff,
// kv, nh, feed-forward kind, exact params, forward FLOPs per example, training FLOPs per step,
// Kaplan's 6N per step, fp32 weight bytes and the training-state estimate (Adafactor).
std::string describe_header();
// The line above a table: the lengths and the conventions of its FLOPs and memory columns.
std::string describe_lengths(const Lengths& len);
std::string describe_row(const Shape& s, const Lengths& len);

// 60506624 -> "60.51M"; 1.42e11 -> "142.00G"; 999999 -> "1.00M" (rounded before choosing the unit).
std::string human_count(double value);
// 891614208 -> "891.6 MB" (decimal units, as the model cards write sizes); 999960000 -> "1.0 GB".
std::string human_bytes(double bytes);
// 60506624 -> "60,506,624".
std::string with_commas(int64_t value);

}  // namespace t5
