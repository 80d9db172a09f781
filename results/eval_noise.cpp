// The held-out evaluation's own noise in the report (see eval_noise.h).
#include "results/eval_noise.h"

#include "results/records.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "core/describe.h"
#include "core/trainer.h"

namespace t5 {

using nlohmann::json;

namespace {
}  // namespace

// The held-out evaluation's own noise for a group of shapes: the root mean square over their runs of
// each run's standard error over its eval batches (records' quality.eval_loss_standard_error); "—"
// when no run recorded one (records written before issue 16).
std::string eval_se_text(const std::vector<const ShapeSummary*>& shapes) {
  double ss = 0;
  size_t n = 0;
  for (const ShapeSummary* s : shapes)
    for (double se : s->eval_loss_standard_errors)
      if (std::isfinite(se)) ss += se * se, ++n;
  return n == 0 ? "—" : fmt::format("{:.4f}", std::sqrt(ss / double(n)));
}

// The evaluation noise of a row's Δ against the first row, paired: every run of a sweep reads the same
// eval batches, so the Δ of the row means is, batch by batch, a difference d_b of summed cross
// entropies over the same tokens t_b (each row's d_b part the mean over its shapes of the mean over
// their seeds), and its standard error over the batches is the ratio estimator's
// (core/trainer.h eval_standard_error). The noise a run's own evaluation adds to that comparison,
// not to the absolute loss. "—" unless every run of both rows recorded its batches, over the same tokens.
std::string paired_eval_se(const std::vector<const ShapeSummary*>& row, const std::vector<const ShapeSummary*>& first) {
  const std::vector<int64_t>* tokens = nullptr;
  for (const auto* group : {&row, &first})
    for (const ShapeSummary* s : *group)
      for (size_t k = 0; k < s->eval_batch_tokens.size(); ++k) {
        const auto& t = s->eval_batch_tokens[k];
        if (t.empty() || s->eval_batch_losses[k].size() != t.size()) return "—";
        if (!tokens) tokens = &t;
        if (t != *tokens) return "—";
      }
  if (!tokens) return "—";
  const size_t batches = tokens->size();
  const auto summed = [&](const std::vector<const ShapeSummary*>& shapes) {
    std::vector<double> s(batches, 0.0);
    for (const ShapeSummary* shape : shapes)
      for (size_t k = 0; k < shape->eval_batch_losses.size(); ++k)
        for (size_t b = 0; b < batches; ++b)
          s[b] += shape->eval_batch_losses[k][b] * double((*tokens)[b]) /
                  double(shape->eval_batch_losses.size() * shapes.size());
    return s;
  };
  const std::vector<double> a = summed(row), b = summed(first);
  std::vector<std::pair<double, int64_t>> d;
  for (size_t i = 0; i < batches; ++i) d.emplace_back(a[i] - b[i], (*tokens)[i]);
  const double se = eval_standard_error(d);
  return std::isfinite(se) ? fmt::format("{:.4f}", se) : "—";
}

// "**Evaluation noise.**": the range of the runs' eval standard errors beside the range of the
// shapes' seed spreads, so a reader sees whether evaluation or training noise dominates. Empty when
// no record carries a standard error.
std::string evaluation_noise(const std::vector<ShapeSummary>& shapes, const std::vector<json>& records) {
  std::vector<double> se, spread;
  std::set<int64_t> batches, tokens;
  for (const auto& r : records) {
    if (r.value("status", "") != "ok") continue;
    const double v = record_number(r, "quality", "eval_loss_standard_error");
    if (!std::isfinite(v)) continue;
    se.push_back(v);
    const double b = record_number(r, "quality", "eval_batches"), t = record_number(r, "quality", "eval_tokens");
    if (std::isfinite(b)) batches.insert(int64_t(b));
    if (std::isfinite(t)) tokens.insert(int64_t(t));
  }
  if (se.empty()) return "";
  for (const auto& s : shapes)
    if (s.ids.size() > 1) spread.push_back(s.quality_std);
  const auto range = [](const std::set<int64_t>& v) {
    return v.empty() ? std::string("?") : v.size() == 1 ? with_commas(*v.begin())
                                                         : with_commas(*v.begin()) + "–" + with_commas(*v.rbegin());
  };
  std::string md = fmt::format(
      "**Evaluation noise.** Each run's held-out loss is a mean over {} eval batches ({} label tokens); its "
      "standard error over those batches (the ratio estimator's, core/trainer.h) is {:.4f}–{:.4f} nats across the "
      "{} runs that recorded it. ",
      range(batches), range(tokens), *std::min_element(se.begin(), se.end()), *std::max_element(se.begin(), se.end()),
      se.size());
  if (spread.empty())
    md += "With one seed per shape there is no seed spread to set it against. ";
  else
    md += fmt::format("The seed spread (sample std over seeds) of the shapes with several seeds is {:.4f}–{:.4f} "
                      "nats. ",
                      *std::min_element(spread.begin(), spread.end()), *std::max_element(spread.begin(), spread.end()));
  md += "Every run reads the same eval batches, so most of a run's evaluation noise is shared by all runs and "
        "cancels in a comparison: the per-dimension tables give, beside each Δ's seed interval, \"eval SE of Δ "
        "(paired)\", the standard error of that Δ over the eval batches taken batch by batch (from the records' "
        "eval_batch_losses), and the per-run SE (root mean square over the runs).\n\n";
  return md;
}

}  // namespace t5
