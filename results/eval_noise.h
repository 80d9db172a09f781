// The held-out evaluation's own noise in the report (issue 16, "every comparison with its
// uncertainty"): each run's held-out loss is a mean over eval batches, recorded with its standard
// error over those batches (core/trainer.h EvalMetrics) and each batch's loss. Every run of a sweep
// reads the same batches, so a comparison of two shapes is taken batch by batch (paired).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "results/report.h"

namespace t5 {

// The root mean square over the shapes' runs of each run's eval standard error, "{:.4f}"; "—" when no
// run recorded one (records written before issue 16).
std::string eval_se_text(const std::vector<const ShapeSummary*>& shapes);

// The standard error over eval batches of the Δ of `row`'s mean loss against `first`'s (each the mean
// over its shapes of the mean over their seeds), batch by batch: d_b = the Δ of summed cross entropies
// over batch b's t_b tokens, SE = eval_standard_error({d_b, t_b}). "—" unless every run of both
// recorded its batches over the same tokens.
std::string paired_eval_se(const std::vector<const ShapeSummary*>& row, const std::vector<const ShapeSummary*>& first);

// report.md's "**Evaluation noise.**" paragraph: the runs' eval batches and tokens, the range of their
// standard errors beside the shapes' seed spread, and how to read the tables' columns. Empty when no
// ok record carries a standard error.
std::string evaluation_noise(const std::vector<ShapeSummary>& shapes, const std::vector<nlohmann::json>& records);

}  // namespace t5
