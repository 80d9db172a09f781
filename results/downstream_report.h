// The downstream part of `t5scale report` (issue 14): per task, every shape's fine-tuned test score
// (mean and spread over its runs) beside its upstream quality, the gain over fine-tuning the same
// shape from random init, the per-dimension effects with bootstrap intervals, and where the upstream
// and downstream frontiers against parameters disagree. Reads the records' "downstream" blocks
// (sweeps/downstream_stage.h); computes everything here, the plotting script only draws.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "results/report.h"

namespace t5 {

// One shape's scores on one task: every fine-tuning run of every seed of the shape.
struct DownstreamScores {
  std::string label;                      // the ShapeSummary label
  int64_t params = 0;
  double upstream = 0, upstream_std = 0;  // negative log-perplexity, mean and sd over seeds
  std::vector<double> pretrained;         // primary test metric per run
  std::vector<double> scratch;            // the same shape fine-tuned from random init (may be empty)
};

struct DownstreamTask {
  std::string task, metric;
  bool higher_is_better = true;
  std::vector<DownstreamScores> shapes;   // in the order of the report's shapes; shapes without runs left out
  std::vector<std::string> upstream_frontier, downstream_frontier;   // labels, against parameters
};

// The tasks found in the ok records, in first-appearance order.
std::vector<DownstreamTask> collect_downstream(const std::vector<nlohmann::json>& records,
                                               const std::vector<ShapeSummary>& shapes);

struct DownstreamReport {
  std::string markdown;                   // "" when no record has a downstream block
  nlohmann::json plot_data;               // null when none: {task: {metric, higher_is_better, points: [...]}}
};
DownstreamReport downstream_report(const std::vector<nlohmann::json>& records, const std::vector<ShapeSummary>& shapes);

// The lines `report --summary` adds for the downstream stage, one per record and task:
// "  ID  TASK METRIC 0.797 ± 0.012 (2 runs); from random init 0.750 (1 run): pretraining +0.047"; "" when
// no record has a downstream block.
std::string downstream_summary(const std::vector<nlohmann::json>& records);

}  // namespace t5
