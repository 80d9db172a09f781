// The downstream part of the report (results/downstream_report.h).
#include "results/downstream_report.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include <fmt/format.h>

#include "results/pareto.h"

namespace t5 {

using nlohmann::json;

namespace {

double mean_of(const std::vector<double>& xs) {
  return xs.empty() ? std::nan("") : std::accumulate(xs.begin(), xs.end(), 0.0) / double(xs.size());
}

double sd_of(const std::vector<double>& xs) {
  if (xs.size() < 2) return std::nan("");
  const double m = mean_of(xs);
  double ss = 0;
  for (double x : xs) ss += (x - m) * (x - m);
  return std::sqrt(ss / double(xs.size() - 1));
}

// "0.8125 ± 0.0210 (3)", "0.8125 (1)", "—".
std::string score_text(const std::vector<double>& xs) {
  if (xs.empty()) return "—";
  if (xs.size() < 2) return fmt::format("{:.4f} (1)", xs[0]);
  return fmt::format("{:.4f} ± {:.4f} ({})", mean_of(xs), sd_of(xs), xs.size());
}

// The scores of one start ("pretrained" | "from_scratch") of `task` in a record's downstream block.
std::vector<double> run_scores(const json& record, const std::string& task, const char* start, const std::string& metric) {
  std::vector<double> out;
  const json& d = record.value("downstream", json::object());
  if (!d.is_object() || !d.contains("tasks") || !d["tasks"].contains(task)) return out;
  const json& t = d["tasks"][task];
  if (!t.contains(start) || !t[start].contains("runs")) return out;
  for (const json& run : t[start]["runs"])
    if (run.contains("test") && run["test"].contains(metric) && run["test"][metric].is_number())
      out.push_back(run["test"][metric].get<double>());
  return out;
}

// A ShapeSummary whose quality is `scores` (so the report's bootstrap and dimension tables serve it).
ShapeSummary as_summary(const ShapeSummary& shape, const std::vector<double>& scores) {
  ShapeSummary s = shape;
  s.qualities = scores;
  s.quality_mean = mean_of(scores);
  s.quality_std = scores.size() > 1 ? sd_of(scores) : 0.0;
  return s;
}

std::vector<std::string> frontier_labels(const std::vector<DownstreamScores>& shapes, bool downstream, bool higher) {
  OperatingPoints f;
  for (const auto& s : shapes) {
    const double q = downstream ? (higher ? 1.0 : -1.0) * mean_of(s.pretrained) : s.upstream;
    f.add(double(s.params), q, s.label);
  }
  std::vector<std::string> out;
  for (const auto& p : f.points()) out.push_back(p.id);
  return out;
}

std::string join(const std::vector<std::string>& xs) {
  if (xs.empty()) return "none";
  std::string out;
  for (const auto& x : xs) out += (out.empty() ? "`" : ", `") + x + "`";
  return out;
}

// What the two frontiers against parameters say, from their members.
std::string frontier_statement(const DownstreamTask& t) {
  std::vector<std::string> up_only, down_only, both;
  const std::set<std::string> up(t.upstream_frontier.begin(), t.upstream_frontier.end()),
      down(t.downstream_frontier.begin(), t.downstream_frontier.end());
  for (const auto& s : t.shapes) {
    const bool u = up.count(s.label) > 0, d = down.count(s.label) > 0;
    if (u && d) both.push_back(s.label);
    else if (u) up_only.push_back(s.label);
    else if (d) down_only.push_back(s.label);
  }
  if (up_only.empty() && down_only.empty())
    return fmt::format("The upstream and downstream frontiers against parameters **agree**: both hold {}.\n\n", join(both));
  return fmt::format(
      "The upstream and downstream frontiers against parameters **disagree**: on the upstream frontier only: {}; "
      "on the downstream frontier only: {}; on both: {}. A shape that is Pareto-efficient upstream is not "
      "necessarily so after fine-tuning (the paper's point, Tay et al. 2022 §4); whether the difference stands "
      "is in the P(frontier) column.\n\n",
      join(up_only), join(down_only), join(both));
}

}  // namespace

std::vector<DownstreamTask> collect_downstream(const std::vector<json>& records, const std::vector<ShapeSummary>& shapes) {
  std::vector<DownstreamTask> tasks;
  for (const json& r : records) {
    if (r.value("status", "") != "ok" || !r.contains("downstream") || !r["downstream"].is_object()) continue;
    const json tasks_block = r["downstream"].value("tasks", json::object());
    for (const auto& [name, t] : tasks_block.items()) {
      if (std::any_of(tasks.begin(), tasks.end(), [&](const DownstreamTask& x) { return x.task == name; })) continue;
      DownstreamTask task;
      task.task = name;
      task.metric = t.value("primary_metric", "");
      task.higher_is_better = t.value("higher_is_better", true);
      tasks.push_back(task);
    }
  }
  for (DownstreamTask& task : tasks) {
    for (const ShapeSummary& shape : shapes) {
      DownstreamScores s;
      s.label = shape.label;
      s.params = shape.params;
      s.upstream = shape.quality_mean;
      s.upstream_std = shape.quality_std;
      for (const json& r : records) {
        if (std::find(shape.ids.begin(), shape.ids.end(), r.value("id", "")) == shape.ids.end()) continue;
        for (double x : run_scores(r, task.task, "pretrained", task.metric)) s.pretrained.push_back(x);
        for (double x : run_scores(r, task.task, "from_scratch", task.metric)) s.scratch.push_back(x);
      }
      if (!s.pretrained.empty()) task.shapes.push_back(std::move(s));
    }
    task.upstream_frontier = frontier_labels(task.shapes, false, task.higher_is_better);
    task.downstream_frontier = frontier_labels(task.shapes, true, task.higher_is_better);
  }
  return tasks;
}

DownstreamReport downstream_report(const std::vector<json>& records, const std::vector<ShapeSummary>& shapes) {
  DownstreamReport out;
  const std::vector<DownstreamTask> tasks = collect_downstream(records, shapes);
  if (tasks.empty()) return out;
  json settings;
  for (const json& r : records)
    if (r.contains("downstream") && r["downstream"].is_object() && r["downstream"].contains("settings")) {
      settings = r["downstream"]["settings"];
      break;
    }
  std::string md = "## Downstream: fine-tuned quality\n\n";
  if (settings.is_object())
    md += fmt::format(
        "Each variant's final weights are fine-tuned on each task for {} steps of {} examples ({}/{} tokens), {} at "
        "a {} learning rate of {}, dropout {}, validated by {} decoding of the validation split every {} steps; the "
        "test split is scored once, at the best validation step (T5's best-checkpoint rule). {} fine-tuning "
        "seed(s) per variant{}. A shape's score is the mean over all its runs (pretraining seeds × fine-tuning "
        "seeds), ± one sample standard deviation.\n\n",
        settings.value("steps", 0), settings.value("batch", 0), settings.value("inputs_length", 0),
        settings.value("targets_length", 0), settings.value("optimizer", "?"), settings.value("schedule", "?"),
        settings.value("lr", 0.0), settings.value("dropout", 0.0),
        settings.value("beam", 1) > 1 ? fmt::format("beam-{}", settings.value("beam", 1)) : std::string("greedy"),
        settings.value("eval_every", 0), settings.value("seeds", json::array()).size(),
        settings.value("from_scratch", false) ? "; every shape is also fine-tuned from random init (its pretraining's "
                                                "init seed), the baseline pretraining has to beat"
                                              : "");
  json plot = json::object();
  for (const DownstreamTask& t : tasks) {
    const double sign = t.higher_is_better ? 1.0 : -1.0;
    md += fmt::format("### {} ({}, {} is better)\n\n", t.task, t.metric, t.higher_is_better ? "higher" : "lower");
    // Frontier probabilities of the downstream frontier (seed resampling, as upstream).
    std::vector<SeededPoint> seeded;
    for (const auto& s : t.shapes) {
      SeededPoint p{double(s.params), {}, s.label};
      for (double x : s.pretrained) p.qualities.push_back(sign * x);
      seeded.push_back(p);
    }
    const std::vector<double> sure = frontier_probabilities(seeded);
    const bool any_scratch = std::any_of(t.shapes.begin(), t.shapes.end(), [](const auto& s) { return !s.scratch.empty(); });
    md += fmt::format("| shape | params | upstream neg. log-ppl | test {} (runs) |{} P(downstream frontier) |\n"
                      "|---|---:|---:|---:|{}---:|\n",
                      t.metric, any_scratch ? " from random init (runs) | pretrained − random init, 95% interval |" : "",
                      any_scratch ? "---:|---:|" : "");
    int beats = 0, resolved = 0;
    json points = json::array();
    for (size_t i = 0; i < t.shapes.size(); ++i) {
      const DownstreamScores& s = t.shapes[i];
      std::string gain;
      if (any_scratch) {
        const ShapeSummary pre = as_summary(ShapeSummary{.label = s.label}, s.pretrained),
                           scr = as_summary(ShapeSummary{.label = s.label}, s.scratch);
        const double d = mean_of(s.pretrained) - mean_of(s.scratch);
        if (std::isfinite(d) && sign * d > 0) ++beats;
        gain = s.scratch.empty() ? std::string("— |")
                                 : fmt::format("{:+.4f} {} |", d, effect_interval({&pre}, {&scr}));
        if (!s.scratch.empty()) ++resolved;
      }
      md += fmt::format("| {} | {} | {:.4f}{} | {} |{} {:.2f} |\n", s.label, s.params, s.upstream,
                        s.upstream_std > 0 ? fmt::format(" ± {:.4f}", s.upstream_std) : "", score_text(s.pretrained),
                        any_scratch ? fmt::format(" {} | {}", score_text(s.scratch), gain) : "", sure[i]);
      points.push_back({{"id", s.label},
                        {"params", s.params},
                        {"upstream", s.upstream},
                        {"upstream_std", s.upstream_std},
                        {"score", mean_of(s.pretrained)},
                        {"score_std", s.pretrained.size() > 1 ? json(sd_of(s.pretrained)) : json(0.0)},
                        {"runs", s.pretrained.size()},
                        {"scratch", s.scratch.empty() ? json(nullptr) : json(mean_of(s.scratch))},
                        {"scratch_std", s.scratch.size() > 1 ? json(sd_of(s.scratch)) : json(0.0)},
                        {"on_upstream_frontier", std::count(t.upstream_frontier.begin(), t.upstream_frontier.end(), s.label) > 0},
                        {"on_downstream_frontier",
                         std::count(t.downstream_frontier.begin(), t.downstream_frontier.end(), s.label) > 0}});
    }
    md += "\n";
    if (any_scratch)
      md += fmt::format("Pretraining beats fine-tuning from random init on {} of {} shapes (by the mean; the "
                        "interval says whether the difference stands).\n\n",
                        beats, resolved);
    md += frontier_statement(t);
    md += fmt::format("![upstream vs downstream: {}](downstream_{}.png)\n\n", t.task, t.task);

    // Per dimension: the same table as upstream, of the downstream score.
    std::vector<ShapeSummary> task_shapes;
    for (const ShapeSummary& shape : shapes)
      for (const auto& s : t.shapes)
        if (s.label == shape.label) task_shapes.push_back(as_summary(shape, s.pretrained));
    for (const SweepDimension& dim : sweep_dimensions(task_shapes)) {
      md += fmt::format("{} by {}:\n\n| {} | shapes | test {} (mean over shapes) | Δ vs first | Δ 95% interval (runs) |\n"
                        "|---|---:|---:|---:|---:|\n",
                        t.task, dim.key, dim.key, t.metric);
      double first = 0;
      for (size_t i = 0; i < dim.values.size(); ++i) {
        const auto& members = dim.by_value.at(dim.values[i]);
        double m = 0;
        for (const ShapeSummary* s : members) m += s->quality_mean / double(members.size());
        if (i == 0) first = m;
        md += fmt::format("| {} | {} | {:.4f} | {} | {} |\n", dim.values[i], members.size(), m,
                          i == 0 ? std::string("—") : fmt::format("{:+.4f}", m - first),
                          i == 0 ? std::string("—") : effect_interval(members, dim.by_value.at(dim.values[0])));
      }
      md += "\n";
    }
    plot[t.task] = {{"metric", t.metric}, {"higher_is_better", t.higher_is_better}, {"points", points}};
  }
  out.markdown = md;
  out.plot_data = plot;
  return out;
}

std::string downstream_summary(const std::vector<json>& records) {
  std::string out;
  for (const json& r : records) {
    if (!r.contains("downstream") || !r["downstream"].is_object()) continue;
    const json tasks = r["downstream"].value("tasks", json::object());
    for (const auto& [task, t] : tasks.items()) {
      const std::string metric = t.value("primary_metric", "");
      const std::vector<double> pre = run_scores(r, task, "pretrained", metric),
                                scr = run_scores(r, task, "from_scratch", metric);
      if (pre.empty()) continue;
      const auto runs = [](const std::vector<double>& xs) {
        return fmt::format("{:.3f}{} ({} run{})", mean_of(xs), xs.size() > 1 ? fmt::format(" ± {:.3f}", sd_of(xs)) : "",
                           xs.size(), xs.size() == 1 ? "" : "s");
      };
      out += fmt::format("  {:<32} {} {} {}", r.value("id", std::string("?")), task, metric, runs(pre));
      if (!scr.empty()) {
        const double gain = (t.value("higher_is_better", true) ? 1.0 : -1.0) * (mean_of(pre) - mean_of(scr));
        out += fmt::format("; from random init {}: pretraining {} by {:.3f}", runs(scr), gain > 0 ? "better" : "not better",
                           std::fabs(gain));
      }
      out += "\n";
    }
  }
  return out.empty() ? out : "downstream (test split at the best validation step):\n" + out;
}

}  // namespace t5
