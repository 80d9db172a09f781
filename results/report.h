// `t5scale report`: turns a sweep's records into report.md, frontier_*.json and the data file the
// plotting script draws from (plotting/plot_report.py). Every number is computed here, in C++;
// Python only draws (STYLE.md).
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "results/pareto.h"

namespace t5 {

// One point of the report: the runs of one shape (all its seeds) that finished ok.
struct ShapeSummary {
  std::string shape_id;           // "tiny-nl2"
  std::string label;              // the run id when one seed, else "tiny-nl2 (3 seeds)"
  std::vector<std::string> ids;
  nlohmann::json shape;           // shape JSON of the first record
  int64_t params = 0;
  double train_flops = 0;         // FLOPs of the whole run (steps · train_per_step), mean over seeds
  double flops_per_step = 0;
  double step_time = 0;           // median measured step time (s), mean over seeds
  double quality_mean = 0;        // negative log-perplexity, mean over seeds
  double quality_std = 0;         // sample standard deviation over seeds (0 with one seed)
  double quality_min = 0, quality_max = 0;   // range over seeds
  double eval_loss_mean = 0;
  std::vector<double> qualities;  // per seed, in record order (the frontier bootstrap resamples them)
  std::vector<int64_t> seeds;     // the seed of each quality (record "seed"); empty when unknown
  std::vector<double> eval_loss_standard_errors;  // per seed: SE of its eval loss over eval batches (NaN: not recorded)
  std::vector<std::vector<double>> eval_batch_losses;   // per seed: each eval batch's mean CE (empty: not recorded)
  std::vector<std::vector<int64_t>> eval_batch_tokens;  // per seed: each eval batch's label tokens
};

// Groups ok records by shape id (the id without its -s<seed>) in first-appearance order.
std::vector<ShapeSummary> summarize_shapes(const std::vector<nlohmann::json>& records);

// The three frontiers of quality against params, FLOPs (whole run) and measured step time.
struct Frontiers {
  OperatingPoints params, flops, step_time;
};
Frontiers compute_frontiers(const std::vector<ShapeSummary>& shapes);

// The bootstrap probability of each shape (same order) being on the frontier of one cost: "params",
// "flops" or "step_time" (results/pareto.h, 1000 resamples of the seeds, fixed seed).
std::vector<double> frontier_probabilities(const std::vector<ShapeSummary>& shapes, const std::string& cost);

// The shape fields a sweep varies, each with its values in order (numbers ascending) and the shapes
// holding each value; nl replaces el and dl when every shape has el = dl. A field with one value is
// left out.
struct SweepDimension {
  std::string key;
  std::vector<std::string> values;
  std::map<std::string, std::vector<const ShapeSummary*>> by_value;
};
std::vector<SweepDimension> sweep_dimensions(const std::vector<ShapeSummary>& shapes);

// The 95% bootstrap interval of the difference of mean quality (ShapeSummary::qualities) between the
// shapes of `row` and those of `first`, over 1,000 rounds (fixed generator seed). Paired when every
// shape of both rows ran the same seeds (a sweep's variants of one seed read the same data in the same
// order): each round draws seeds with replacement once and every shape takes its runs of those seeds,
// so the shared data order cancels out of the difference; "[lo, hi] (n seeds, paired)". Otherwise each
// shape's seeds are redrawn on their own: "[lo, hi] (n seeds)". "— (one seed each)" when nothing can
// be resampled.
std::string effect_interval(const std::vector<const ShapeSummary*>& row, const std::vector<const ShapeSummary*>& first);

struct ReportOptions {
  std::string results_dir;        // holds runs.jsonl, spec.json?, steps/, baseline.json?
  std::string out_dir;            // default: results_dir
  std::string plot_script;        // plotting/plot_report.py; empty = no plots
  std::string python = "/usr/bin/python3";
};

struct ReportOutput {
  std::string report_md;
  std::vector<std::string> files;     // everything written
  std::string plot_error;             // non-empty when the plots could not be drawn
  std::vector<int64_t> torn_lines;    // 1-based runs.jsonl lines that were not whole records (skipped)
};

// Writes report.md, frontier_{params,flops,step_time}.json, fits.json (results/scaling_fit.h),
// report_data.json and (when a script is given) the plots. Throws t5::Error when there is no runs.jsonl.
ReportOutput write_report(const ReportOptions& options);

// The held-out loss of every record, smallest model first, against the corpus's unigram baseline:
// "  ID STATUS PARAMS params  LOSS (±DELTA vs baseline)", "—" where a run has no eval loss. Writes
// nothing. Throws t5::Error when there is no runs.jsonl.
struct SummaryTable {
  std::string text;
  std::vector<int64_t> torn_lines;  // 1-based runs.jsonl lines that were not whole records (skipped)
};
SummaryTable summary_table(const std::string& results_dir);

// "1 torn line (7)", "3 torn lines (2, 5, 9)": what report.md and the CLI warning say of them.
std::string torn_lines_text(const std::vector<int64_t>& lines);

}  // namespace t5
