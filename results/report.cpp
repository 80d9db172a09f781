// report.md, frontiers and plot data from a sweep's records (see report.h).
#include "results/report.h"

#include "results/downstream_report.h"

#include <algorithm>
#include <random>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include <spawn.h>
#include <sys/wait.h>

#include "core/atomic_file.h"
#include "core/describe.h"
#include "core/error.h"
#include "core/json_file.h"
#include "results/bootstrap.h"
#include "results/eval_noise.h"
#include "results/records.h"
#include "results/scaling_fit.h"

extern char** environ;

namespace t5 {

using nlohmann::json;

namespace {


std::string shape_id_of(const json& record) {
  const std::string id = record.value("id", "");
  const size_t dash = id.rfind("-s");
  if (dash != std::string::npos && dash + 2 < id.size() &&
      id.find_first_not_of("0123456789", dash + 2) == std::string::npos)
    return id.substr(0, dash);
  return id;
}

struct Stats {
  double mean = 0, std = 0;
};
Stats stats(const std::vector<double>& xs) {
  Stats s;
  if (xs.empty()) return s;
  for (double x : xs) s.mean += x;
  s.mean /= double(xs.size());
  if (xs.size() > 1) {
    double ss = 0;
    for (double x : xs) ss += (x - s.mean) * (x - s.mean);
    s.std = std::sqrt(ss / double(xs.size() - 1));
  }
  return s;
}

std::string fixed(double x, int digits = 4) { return std::isfinite(x) ? fmt::format("{:.{}f}", x, digits) : "—"; }

// MFU as a percentage, as `t5scale bench` prints it; above 100% it is marked: the sweep's stored GEMM
// ceiling (ceiling.json, measured once per sweep directory) was then measured while the machine was
// busier than during the run, so the ratio means nothing. 0 (no ceiling) is a dash.
constexpr const char* kImpossibleMfuMark = " †";
std::string mfu_text(double mfu) {
  if (!std::isfinite(mfu) || mfu <= 0) return "—";
  return fmt::format("{:.1f}%{}", 100 * mfu, mfu > 1 ? kImpossibleMfuMark : "");
}
std::string count(double x) { return std::isfinite(x) ? human_count(x) : "—"; }
std::string mean_pm(const Stats& s, size_t n) {
  return n > 1 ? fmt::format("{:.4f} ± {:.4f}", s.mean, s.std) : fixed(s.mean);
}

std::string value_text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

struct StepLog {
  std::vector<std::pair<double, double>> train, eval;   // (step, loss)
};

// Reads steps/<id>.jsonl: lines {type: "step"|"eval", step, loss} as the sweep runner writes them
// ("kind": "train"|"eval" is read the same way); other lines are skipped.
StepLog read_step_log(const std::string& path) {
  StepLog log;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("step") || !j.contains("loss")) continue;
    if (!j["step"].is_number() || !j["loss"].is_number()) continue;
    const auto point = std::make_pair(j["step"].get<double>(), j["loss"].get<double>());
    const bool eval = j.value("type", std::string()) == "eval" || j.value("kind", std::string()) == "eval";
    (eval ? log.eval : log.train).push_back(point);
  }
  return log;
}

// One curve over several seeds: at every step all seeds logged, [step, mean, min, max]; thinned to at
// most `keep` points (every k-th plus the last). One seed gives mean = min = max.
json seed_band(const std::vector<const std::vector<std::pair<double, double>>*>& runs, size_t keep) {
  std::map<double, std::vector<double>> at_step;
  for (const auto* run : runs)
    for (const auto& [step, loss] : *run) at_step[step].push_back(loss);
  std::vector<std::array<double, 4>> rows;
  for (const auto& [step, losses] : at_step) {
    if (losses.size() != runs.size()) continue;
    const Stats st = stats(losses);
    rows.push_back({step, st.mean, *std::min_element(losses.begin(), losses.end()),
                    *std::max_element(losses.begin(), losses.end())});
  }
  json out = json::array();
  const size_t stride = std::max<size_t>(1, (rows.size() + keep - 1) / keep);
  for (size_t i = 0; i < rows.size(); ++i)
    if (i % stride == 0 || i + 1 == rows.size()) out.push_back(rows[i]);
  return out;
}

// The loss curves the plot draws: one per shape that finished ok (its seeds' mean with a min–max
// band), then one per run that did not finish ok (its own curve, labelled with its status).
json loss_curves(const std::string& steps_dir, const std::vector<ShapeSummary>& shapes,
                 const std::vector<json>& records) {
  json out = json::array();
  const auto one = [&](const std::string& label, const std::vector<std::string>& ids, const std::string& status) {
    std::vector<StepLog> logs;
    for (const auto& id : ids)
      if (std::filesystem::exists(steps_dir + "/" + id + ".jsonl")) logs.push_back(read_step_log(steps_dir + "/" + id + ".jsonl"));
    if (logs.empty()) return;
    std::vector<const std::vector<std::pair<double, double>>*> train, eval;
    for (const auto& l : logs) {
      train.push_back(&l.train);
      eval.push_back(&l.eval);
    }
    out.push_back({{"id", label}, {"seeds", logs.size()}, {"status", status}, {"train", seed_band(train, 400)},
                   {"eval", seed_band(eval, 400)}});
  };
  for (const auto& s : shapes) one(s.label, s.ids, "ok");
  for (const auto& r : records)
    if (r.value("status", "") != "ok") one(r.value("id", ""), {r.value("id", "")}, r.value("status", ""));
  return out;
}

int run_process(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return 127;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return 127;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

std::string data_text(const json& record) {
  const json d = record.value("data", json::object());
  if (d.contains("describe") && d["describe"].is_string()) return d["describe"].get<std::string>();
  return d.value("source", std::string("?"));
}

std::string budget_text(const std::vector<json>& records) {
  const json& r = records.front();
  const json b = r.value("budget", json::object());
  const json s = r.value("settings", json::object());
  const int64_t batch = b.value("batch", int64_t{0}), le = b.value("inputs_length", int64_t{0}),
                ld = b.value("targets_length", int64_t{0});
  std::set<int64_t> steps;
  for (const auto& rec : records) steps.insert(rec.value("budget", json::object()).value("steps", int64_t{0}));
  const std::string kind = b.value("kind", "steps");
  std::string text;
  if (steps.size() == 1)
    text = fmt::format("{} steps × batch {} × ({} inputs + {} targets) tokens = {} tokens per variant", *steps.begin(),
                       batch, le, ld, with_commas(*steps.begin() * batch * (le + ld)));
  else
    text = fmt::format("a {} budget of {} per variant ({} to {} steps) × batch {} × ({} + {}) tokens", kind,
                       count(b.value("value", 0.0)), *steps.begin(), *steps.rbegin(), batch, le, ld);
  if (!s.empty())
    text += fmt::format("; optimizer {}, lr {} ({} schedule, warm-up {} steps); data: {}", s.value("optimizer", "?"),
                        s.value("lr", 0.0), s.value("schedule", "?"), s.value("warmup_steps", int64_t{0}),
                        data_text(r));
  return text;
}

// The unigram baseline of the corpus: the loss of the best predictor that ignores the input. Read
// from <results>/baseline.json ({"unigram_cross_entropy" | "unigram_baseline_nats": nats, "split"?})
// or, failing that, from the first record carrying "unigram_baseline_nats" in its data, quality or
// baseline block (where the sweep runner puts it). NaN when neither says.
struct Baseline {
  double nats = std::nan("");
  std::string split;
  std::string problem;   // baseline.json exists but holds no baseline: what is wrong with it
};

std::optional<double> number_in(const json& j, std::initializer_list<const char*> keys) {
  if (!j.is_object()) return std::nullopt;
  for (const char* key : keys)
    if (j.contains(key) && j[key].is_number()) return j[key].get<double>();
  return std::nullopt;
}

Baseline read_baseline(const std::string& results_dir, const std::vector<json>& records) {
  Baseline b;
  const std::string path = results_dir + "/baseline.json";
  if (std::filesystem::exists(path)) {
    json j;
    try {
      j = read_json_file(path);
    } catch (const Error& e) {
      b.problem = e.message();
    }
    if (const auto v = number_in(j, {"unigram_cross_entropy", "unigram_baseline_nats"})) {
      b.nats = *v;
      if (j.contains("split") && j["split"].is_string()) b.split = j["split"].get<std::string>();
      return b;
    }
    if (b.problem.empty()) b.problem = path + ": no number under 'unigram_cross_entropy'";
    b.problem += " (a damaged file: rerun the sweep command to recompute it)";
  }
  for (const auto& r : records)
    for (const char* block : {"data", "quality", "baseline"})
      if (r.contains(block))
        if (const auto v = number_in(r[block], {"unigram_baseline_nats", "unigram_cross_entropy"})) {
          b.nats = *v;
          if (r[block].contains("baseline_split") && r[block]["baseline_split"].is_string())
            b.split = r[block]["baseline_split"].get<std::string>();
          return b;
        }
  return b;
}

// A shape's value along a sweep dimension: the shape JSON's fields, plus "nl" (el when el = dl).
std::optional<std::string> dimension_value(const json& shape, const std::string& key) {
  if (key == "nl") {
    if (!shape.contains("el") || shape.value("el", -1) != shape.value("dl", -2)) return std::nullopt;
    return value_text(shape["el"]);
  }
  // The sharing flags (core/shape.h) are written only when set: absent means false.
  if (key == "shared_heads" || key == "shared_kv") return value_text(shape.value(key, false));
  if (!shape.contains(key)) return std::nullopt;
  return value_text(shape[key]);
}

bool numeric_text(const std::string& a) { return !a.empty() && std::isdigit(static_cast<unsigned char>(a[0])); }

}  // namespace

// The 95% bootstrap interval of a row's Δ quality against the first row: 1,000 rounds redraw every
// shape's seeds with replacement (fixed generator seed), the Δ of the resampled means is taken, and
// its 2.5th and 97.5th percentiles are the interval. "n seeds" counts the runs behind both rows; with
// one seed per shape there is nothing to resample and the interval says so.
namespace {

// The seeds every shape of `groups` ran, when all ran the same ones (each once); empty otherwise.
std::vector<int64_t> common_seeds(std::initializer_list<const std::vector<const ShapeSummary*>*> groups) {
  std::vector<int64_t> common;
  bool first = true;
  for (const auto* group : groups)
    for (const ShapeSummary* s : *group) {
      std::vector<int64_t> seeds = s->seeds;
      std::sort(seeds.begin(), seeds.end());
      if (seeds.size() != s->qualities.size() || std::adjacent_find(seeds.begin(), seeds.end()) != seeds.end()) return {};
      if (first) common = seeds, first = false;
      else if (seeds != common) return {};
    }
  return common;
}

// The quality of `s` at `seed` (the seed is one of its seeds).
double quality_at(const ShapeSummary& s, int64_t seed) {
  return s.qualities[size_t(std::find(s.seeds.begin(), s.seeds.end(), seed) - s.seeds.begin())];
}

}  // namespace

std::string effect_interval(const std::vector<const ShapeSummary*>& row, const std::vector<const ShapeSummary*>& first) {
  size_t seeds = 0, most = 0;
  for (const auto* group : {&row, &first})
    for (const ShapeSummary* s : *group) seeds += s->qualities.size(), most = std::max(most, s->qualities.size());
  if (most < 2) return "— (one seed each)";
  const std::vector<int64_t> paired = common_seeds({&row, &first});
  std::mt19937_64 rng(0);
  std::vector<int64_t> drawn;
  const auto mean_of = [&](const std::vector<const ShapeSummary*>& shapes) {
    double sum = 0;
    for (const ShapeSummary* s : shapes) {
      if (paired.empty()) {
        sum += resampled_mean(s->qualities, rng);
        continue;
      }
      double seed_sum = 0;
      for (int64_t seed : drawn) seed_sum += quality_at(*s, seed);
      sum += seed_sum / double(drawn.size());
    }
    return sum / double(shapes.size());
  };
  constexpr int kRounds = 1000;
  std::vector<double> delta(kRounds);
  std::uniform_int_distribution<size_t> pick_seed(0, paired.empty() ? 0 : paired.size() - 1);
  for (double& d : delta) {
    drawn.clear();
    for (size_t k = 0; k < paired.size(); ++k) drawn.push_back(paired[pick_seed(rng)]);
    d = mean_of(row) - mean_of(first);
  }
  const auto [lo, hi] = percentile_interval(delta);
  return fmt::format("[{:+.4f}, {:+.4f}] ({} seeds{})", lo, hi, seeds, paired.empty() ? "" : ", paired");
}

std::vector<SweepDimension> sweep_dimensions(const std::vector<ShapeSummary>& shapes) {
  bool all_equal_depth = true;
  for (const auto& s : shapes) all_equal_depth &= dimension_value(s.shape, "nl").has_value();
  std::vector<std::string> keys = {"el", "dl", "dm", "ff", "kv", "nh", "shared_heads", "shared_kv", "feed_forward_proj",
                                   "tie_word_embeddings"};
  if (all_equal_depth) keys.erase(keys.begin(), keys.begin() + 2), keys.insert(keys.begin(), "nl");
  std::vector<SweepDimension> out;
  for (const auto& key : keys) {
    SweepDimension dim{key, {}, {}};
    for (const auto& s : shapes) {
      const auto v = dimension_value(s.shape, key);
      if (!v) continue;
      if (!dim.by_value.count(*v)) dim.values.push_back(*v);
      dim.by_value[*v].push_back(&s);
    }
    if (dim.by_value.size() < 2) continue;
    std::sort(dim.values.begin(), dim.values.end(), [](const std::string& a, const std::string& b) {
      return numeric_text(a) && numeric_text(b) ? std::stoll(a) < std::stoll(b) : a < b;
    });
    out.push_back(std::move(dim));
  }
  return out;
}

namespace {

// "How quality and cost move" along every dimension the shapes vary in: one table per dimension, a
// row per value with the mean over the shapes holding it, and the change against the first row
// (quality as a difference in nats, costs as ratios). nl replaces el and dl when every shape has
// el = dl.
// "How sure is each frontier?": with several seeds of a shape, its bootstrap probability of being on each
// frontier; members of the frontier of seed means whose probability is below one half are marked.
std::string frontier_certainty(const std::vector<ShapeSummary>& shapes, const Frontiers& f,
                               const std::map<std::string, std::vector<double>>& sure) {
  const bool seeded = std::any_of(shapes.begin(), shapes.end(), [](const ShapeSummary& s) { return s.ids.size() > 1; });
  if (!seeded) return "";
  const std::pair<const char*, const OperatingPoints*> costs[] = {
      {"params", &f.params}, {"flops", &f.flops}, {"step_time", &f.step_time}};
  std::string md = fmt::format(
      "### How sure is each frontier?\n\nThe share of {} bootstrap rounds (each shape's seeds drawn again with "
      "replacement, their mean taken, the frontier rebuilt) in which a shape is on the frontier. \"on\" marks a "
      "member of the frontier of seed means above; \"on, uncertain\" one whose probability is below one half.\n\n"
      "| shape | seeds | P(params frontier) | P(FLOPs frontier) | P(step-time frontier) |\n|---|---:|---:|---:|---:|\n",
      FrontierBootstrap{}.resamples);
  for (size_t i = 0; i < shapes.size(); ++i) {
    md += fmt::format("| {} | {} |", shapes[i].shape_id, shapes[i].ids.size());
    for (const auto& [name, frontier] : costs) {
      const double p = sure.at(name)[i];
      const bool member = std::any_of(frontier->points().begin(), frontier->points().end(),
                                      [&](const OperatingPoint& q) { return q.id == shapes[i].label; });
      md += fmt::format(" {:.2f}{} |", p, member ? (p < 0.5 ? " (on, uncertain)" : " (on)") : "");
    }
    md += "\n";
  }
  return md + "\n";
}

std::string dimension_tables(const std::vector<ShapeSummary>& shapes) {
  std::string md =
      "## Per sweep dimension\n\nFor each shape field that varies: the mean over the shapes holding each value "
      "(when other fields vary too, a row averages over them), and the change against the first row — quality "
      "as a difference (positive = better), costs as ratios. The Δ interval is a 95% bootstrap over seeds; it is "
      "*paired* when every shape of both rows ran the same seeds (seed k reads the same data in the same order "
      "in every variant, so that shared swing cancels out of the difference).\n\n";
  for (const SweepDimension& dim : sweep_dimensions(shapes)) {
    const std::string& key = dim.key;
    const std::vector<std::string>& values = dim.values;
    const auto& by_value = dim.by_value;
    md += fmt::format("### {}\n\n| {} | shapes | neg. log-ppl (mean ± std over shapes) | Δ neg. log-ppl | params "
                      "(mean) | × params | FLOPs/step (mean) | × FLOPs | step time (s, mean) | × step time | "
                      "Δ 95% interval (seeds) | eval SE of Δ (paired) | eval SE (per run) |\n"
                      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
                      key, key);
    double q0 = 0, p0 = 0, f0 = 0, t0 = 0;
    for (size_t i = 0; i < values.size(); ++i) {
      std::vector<double> q, p, f, t;
      for (const ShapeSummary* s : by_value.at(values[i])) {
        q.push_back(s->quality_mean);
        p.push_back(double(s->params));
        f.push_back(s->flops_per_step);
        t.push_back(s->step_time);
      }
      const double qm = stats(q).mean, pm = stats(p).mean, fm = stats(f).mean, tm = stats(t).mean;
      if (i == 0) q0 = qm, p0 = pm, f0 = fm, t0 = tm;
      md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", values[i], q.size(),
                        mean_pm(stats(q), q.size()), fmt::format("{:+.4f}", qm - q0), count(pm), fixed(pm / p0, 2),
                        count(fm), fixed(fm / f0, 2), fixed(tm, 3), fixed(tm / t0, 2),
                        i == 0 ? std::string("—") : effect_interval(by_value.at(values[i]), by_value.at(values[0])),
                        i == 0 ? std::string("—") : paired_eval_se(by_value.at(values[i]), by_value.at(values[0])),
                        eval_se_text(by_value.at(values[i])));
    }
    md += "\n";
  }
  return md;
}

void write_text(const std::string& path, const std::string& text, std::vector<std::string>& files) {
  write_text_atomic(path, text);
  files.push_back(path);
}

}  // namespace

std::vector<ShapeSummary> summarize_shapes(const std::vector<json>& records) {
  std::vector<ShapeSummary> out;
  std::map<std::string, std::vector<const json*>> groups;
  std::vector<std::string> order;
  for (const auto& r : records) {
    if (r.value("status", "") != "ok") continue;
    const double q = record_number(r, "quality", "negative_log_perplexity");
    if (!std::isfinite(q)) continue;
    const std::string key = shape_id_of(r);
    if (!groups.count(key)) order.push_back(key);
    groups[key].push_back(&r);
  }
  for (const auto& key : order) {
    const auto& group = groups[key];
    ShapeSummary s;
    s.shape_id = key;
    std::vector<double> quality, loss, flops, step_time;
    for (const json* r : group) {
      s.ids.push_back(r->value("id", ""));
      if (r->contains("seed") && (*r)["seed"].is_number_integer()) s.seeds.push_back((*r)["seed"].get<int64_t>());
      s.eval_loss_standard_errors.push_back(record_number(*r, "quality", "eval_loss_standard_error"));
      std::vector<double> batch_losses;
      std::vector<int64_t> batch_tokens;
      const json q = r->value("quality", json::object());
      if (q.contains("eval_batch_losses") && q.contains("eval_batch_tokens")) {
        for (const auto& v : q["eval_batch_losses"]) batch_losses.push_back(v.is_number() ? v.get<double>() : std::nan(""));
        for (const auto& v : q["eval_batch_tokens"]) batch_tokens.push_back(v.is_number_integer() ? v.get<int64_t>() : -1);
      }
      s.eval_batch_losses.push_back(batch_losses);
      s.eval_batch_tokens.push_back(batch_tokens);
      quality.push_back(record_number(*r, "quality", "negative_log_perplexity"));
      loss.push_back(record_number(*r, "quality", "eval_loss"));
      flops.push_back(record_number(*r, "flops", "total"));
      step_time.push_back(record_number(*r, "throughput", "step_time_seconds"));
    }
    const json& first = *group.front();
    s.label = group.size() == 1 ? s.ids.front() : fmt::format("{} ({} seeds)", key, group.size());
    s.shape = first.value("shape", json::object());
    s.params = first.value("params", int64_t{0});
    s.flops_per_step = record_number(first, "flops", "train_per_step");
    s.train_flops = stats(flops).mean;
    s.step_time = stats(step_time).mean;
    const Stats q = stats(quality);
    s.quality_mean = q.mean;
    s.quality_std = q.std;
    s.quality_min = *std::min_element(quality.begin(), quality.end());
    s.quality_max = *std::max_element(quality.begin(), quality.end());
    s.eval_loss_mean = stats(loss).mean;
    s.qualities = quality;
    out.push_back(std::move(s));
  }
  return out;
}

Frontiers compute_frontiers(const std::vector<ShapeSummary>& shapes) {
  Frontiers f;
  for (const auto& s : shapes) {
    f.params.add(double(s.params), s.quality_mean, s.label);
    f.flops.add(s.train_flops, s.quality_mean, s.label);
    f.step_time.add(s.step_time, s.quality_mean, s.label);
  }
  return f;
}

std::vector<double> frontier_probabilities(const std::vector<ShapeSummary>& shapes, const std::string& cost) {
  std::vector<SeededPoint> points;
  for (const auto& s : shapes)
    points.push_back({cost == "params" ? double(s.params) : cost == "flops" ? s.train_flops : s.step_time, s.qualities,
                      s.label});
  return frontier_probabilities(points);
}

namespace {
// The JSON type of every record field the report reads (where present; absent fields read as
// unknown), so that a hand-edited or foreign line is one error naming its line instead of a
// type_error from deep inside the report. "block.key" is a key inside an object-valued field.
struct FieldForm {
  const char* path;
  const char* type;
  bool (*ok)(const json&);
};
bool is_string(const json& j) { return j.is_string(); }
bool is_integer(const json& j) { return j.is_number_integer(); }
bool is_number(const json& j) { return j.is_number(); }
bool is_object(const json& j) { return j.is_object(); }
bool is_string_or_null(const json& j) { return j.is_string() || j.is_null(); }
constexpr FieldForm kRecordFields[] = {
    {"id", "a string", is_string},              {"status", "a string", is_string},
    {"sweep", "a string", is_string},           {"params", "an integer", is_integer},
    {"error", "a string or null", is_string_or_null},
    {"shape", "an object", is_object},          {"quality", "an object", is_object},
    {"budget", "an object", is_object},         {"settings", "an object", is_object},
    {"throughput", "an object", is_object},     {"flops", "an object", is_object},
    {"data", "an object", is_object},           {"context", "an object", is_object},
    {"coordinates", "an object", is_object},    {"budget.kind", "a string", is_string},
    {"budget.value", "a number", is_number},    {"budget.steps", "an integer", is_integer},
    {"budget.steps_done", "an integer", is_integer}, {"budget.batch", "an integer", is_integer},
    {"budget.inputs_length", "an integer", is_integer}, {"budget.targets_length", "an integer", is_integer},
    {"settings.optimizer", "a string", is_string}, {"settings.schedule", "a string", is_string},
    {"settings.lr", "a number", is_number},     {"settings.warmup_steps", "an integer", is_integer},
    {"shape.el", "an integer", is_integer},     {"shape.dl", "an integer", is_integer},
    {"data.source", "a string", is_string},
};

void check_record_form(const json& record, const std::string& where) {
  T5_CHECK(record.is_object(), "{}: a run record must be a JSON object, got {}", where, record.type_name());
  T5_CHECK(record.contains("id"), "{}: run record without key 'id'", where);
  for (const FieldForm& field : kRecordFields) {
    const std::string path = field.path;
    const size_t dot = path.find('.');
    const json* value = &record;
    for (const std::string& key : {path.substr(0, dot), dot == std::string::npos ? "" : path.substr(dot + 1)}) {
      if (key.empty()) break;
      value = value->is_object() && value->contains(key) ? &(*value)[key] : nullptr;
      if (!value) break;
    }
    if (value)
      T5_CHECK_HINT(field.ok(*value), "a record of another tool or a hand edit? restore the line as the sweep wrote it",
                    "{}: key '{}' must be {}, got {}", where, path, field.type, value->dump());
  }
}

// The records of <results_dir>/runs.jsonl; an error when there is none or one has the wrong form.
RecordFile read_sweep_records(const std::string& results_dir) {
  const std::string runs = results_dir + "/runs.jsonl";
  T5_CHECK_HINT(std::filesystem::is_directory(results_dir), "give a sweep's results directory, e.g. results/depth-tiny",
                "{}: no such directory", results_dir);
  T5_CHECK_HINT(std::filesystem::exists(runs), "run 't5scale sweep SPEC --out DIR' first", "{}: no run records", runs);
  RecordFile file = read_records(runs);
  T5_CHECK(!file.records.empty(), "{}: holds no complete record", runs);
  for (size_t i = 0; i < file.records.size(); ++i)
    check_record_form(file.records[i], fmt::format("{}:{}", runs, file.record_lines[i]));
  return file;
}
}  // namespace

SummaryTable summary_table(const std::string& results_dir) {
  const RecordFile file = read_sweep_records(results_dir);
  std::vector<json> records = file.records;
  std::stable_sort(records.begin(), records.end(), [](const json& a, const json& b) {
    return a.value("params", int64_t{0}) < b.value("params", int64_t{0});
  });
  const Baseline baseline = read_baseline(results_dir, records);
  const bool has_baseline = !std::isnan(baseline.nats);
  std::string out = has_baseline ? fmt::format("held-out loss (nats per target token; unigram baseline of the corpus {:.3f}):\n",
                                               baseline.nats)
                     : fmt::format("held-out loss (nats per target token; no unigram baseline{}):\n",
                                   baseline.problem.empty() ? " recorded" : ": " + baseline.problem);
  for (const json& r : records) {
    const json quality = r.value("quality", json::object());
    const bool has_loss = quality.is_object() && quality.contains("eval_loss") && quality["eval_loss"].is_number();
    std::string loss = "—";
    if (has_loss) {
      const double l = quality["eval_loss"].get<double>();
      loss = has_baseline ? fmt::format("{:.3f} ({:+.3f} vs baseline)", l, l - baseline.nats) : fmt::format("{:.3f}", l);
    }
    out += fmt::format("  {:<32} {:<8} {:>10} params  {}\n", r.value("id", std::string("?")),
                       r.value("status", std::string("?")), with_commas(r.value("params", int64_t{0})), loss);
  }
  out += downstream_summary(records);
  return {out, file.torn_lines};
}

std::string torn_lines_text(const std::vector<int64_t>& lines) {
  return fmt::format("{} torn line{} ({})", lines.size(), lines.size() == 1 ? "" : "s", fmt::join(lines, ", "));
}

ReportOutput write_report(const ReportOptions& opt) {
  namespace fs = std::filesystem;
  const RecordFile file = read_sweep_records(opt.results_dir);
  const std::string out_dir = opt.out_dir.empty() ? opt.results_dir : opt.out_dir;
  fs::create_directories(out_dir);
  ReportOutput out;
  out.torn_lines = file.torn_lines;

  json spec = json::object();
  if (fs::exists(opt.results_dir + "/spec.json")) spec = json::parse(std::ifstream(opt.results_dir + "/spec.json"), nullptr, false);
  if (spec.is_discarded()) spec = json::object();
  const Baseline baseline = read_baseline(opt.results_dir, file.records);

  const std::vector<ShapeSummary> shapes = summarize_shapes(file.records);
  const Frontiers frontiers = compute_frontiers(shapes);
  const std::pair<const char*, const OperatingPoints*> costs[] = {
      {"params", &frontiers.params}, {"flops", &frontiers.flops}, {"step_time", &frontiers.step_time}};
  const std::map<std::string, std::string> cost_label = {
      {"params", "parameters"}, {"flops", "training FLOPs (whole run, SPEC §3)"}, {"step_time", "measured step time (s)"}};
  std::map<std::string, std::vector<double>> sure;  // cost -> per shape: P(on the frontier) over seed resamples
  for (const auto& [name, frontier] : costs) {
    sure[name] = frontier_probabilities(shapes, name);
    json points = to_json(*frontier), all = json::object();
    for (size_t i = 0; i < shapes.size(); ++i) all[shapes[i].label] = sure[name][i];
    for (json& p : points) p["frontier_probability"] = all.value(p.value("id", ""), 0.0);
    write_text(fmt::format("{}/frontier_{}.json", out_dir, name),
               json{{"cost", name}, {"cost_label", cost_label.at(name)}, {"quality", "negative_log_perplexity"},
                    {"points", points},
                    {"bootstrap", {{"resamples", FrontierBootstrap{}.resamples}, {"seed", FrontierBootstrap{}.seed},
                                   {"frontier_probability", all}}}}.dump(2) + "\n",
               out.files);
  }

  const std::string sweep_name = spec.value("name", file.records.front().value("sweep", fs::path(opt.results_dir).filename().string()));
  std::string md = fmt::format("# Sweep report: {}\n\n", sweep_name);
  if (spec.contains("question")) md += fmt::format("**Question.** {}\n\n", spec["question"].get<std::string>());
  if (spec.contains("description")) md += spec["description"].get<std::string>() + "\n\n";
  md += fmt::format("**Budget.** {}.\n\n", budget_text(file.records));
  md += "These are short runs on a CPU at a small budget: they are *not* the paper's 524,288-step runs "
        "(128 × 512 input tokens per step, C4). Compare shapes only with one another inside this sweep; "
        "absolute losses are far from the paper's.\n\n";
  md += "Quality is negative log-perplexity = −(mean cross entropy in nats per target token) on held-out "
        "data; higher is better. FLOPs are the exact matmul count of SPEC §3 (3 × forward per training "
        "example); tokens per step = batch × (inputs + targets).\n\n";
  double best_loss = std::nan("");
  for (const auto& s : shapes) best_loss = std::isfinite(best_loss) ? std::min(best_loss, s.eval_loss_mean) : s.eval_loss_mean;
  if (std::isfinite(baseline.nats))
    md += fmt::format("**Baseline.** The unigram baseline of the corpus (the entropy of its target-token "
                      "distribution{}: the loss of the best predictor that ignores the input) is {:.4f} nats per "
                      "target token, negative log-perplexity {:.4f}. The best variant here reaches an eval loss "
                      "of {:.4f} nats, {:.4f} nats {} the baseline.\n\n",
                      baseline.split.empty() ? "" : " on the " + baseline.split + " split", baseline.nats,
                      -baseline.nats, best_loss, std::fabs(baseline.nats - best_loss),
                      best_loss < baseline.nats ? "below" : "above");
  else if (!baseline.problem.empty())
    md += fmt::format("**Baseline.** {}.\n\n", baseline.problem);
  else
    md += "**Baseline.** No unigram baseline was recorded for this sweep (baseline.json or the records' "
          "data.unigram_baseline_nats).\n\n";
  if (!out.torn_lines.empty())
    md += fmt::format("Note: {} of runs.jsonl skipped (a crash during a write).\n\n", torn_lines_text(out.torn_lines));

  // All runs.
  std::set<std::string> on_frontier[3];
  for (int c = 0; c < 3; ++c)
    for (const auto& p : costs[c].second->points()) on_frontier[c].insert(p.id);
  md += "## All runs\n\n| id | status | params | FLOPs/step | steps | step time (s) | tokens/s | MFU | eval loss | "
        "neg. log-ppl | frontier |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
  for (const auto& r : file.records) {
    const std::string id = r.value("id", "?");
    std::string marks;
    for (const auto& s : shapes)
      if (std::find(s.ids.begin(), s.ids.end(), id) != s.ids.end())
        for (int c = 0; c < 3; ++c)
          if (on_frontier[c].count(s.label)) marks += std::string(marks.empty() ? "" : ", ") + costs[c].first;
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", id, r.value("status", "?"),
                      count(r.value("params", 0.0)), count(record_number(r, "flops", "train_per_step")),
                      r.value("budget", json::object()).value("steps_done", int64_t{0}),
                      fixed(record_number(r, "throughput", "step_time_seconds"), 3),
                      fixed(record_number(r, "throughput", "tokens_per_second"), 0),
                      mfu_text(record_number(r, "throughput", "mfu")), fixed(record_number(r, "quality", "eval_loss")),
                      fixed(record_number(r, "quality", "negative_log_perplexity")), marks);
  }
  md += "\n";
  double impossible_ceiling = 0;  // the stored ceiling of a run with MFU above 100%, if any
  for (const auto& r : file.records)
    if (record_number(r, "throughput", "mfu") > 1) impossible_ceiling = record_number(r, "throughput", "gemm_ceiling_flops_per_second");
  if (impossible_ceiling > 0)
    md += fmt::format("† MFU above 100% is impossible: the sweep's GEMM ceiling ({:.2f} GFLOP/s, ceiling.json) "
                      "was measured while the machine was busier than during these runs, so their MFU is not "
                      "meaningful; compare step times. A new results directory measures the ceiling again.\n\n",
                      impossible_ceiling / 1e9);
  std::string problems;
  for (const auto& r : file.records)
    if (r.value("status", "") != "ok")
      problems += fmt::format("- `{}`: {} — {}\n", r.value("id", "?"), r.value("status", "?"),
                              r.contains("error") && r["error"].is_string() ? r["error"].get<std::string>() : "");
  if (!problems.empty()) md += "Runs that did not finish ok (recorded, left out of frontiers):\n\n" + problems + "\n";
  md += evaluation_noise(shapes, file.records);

  bool any_seeds = false;
  for (const auto& s : shapes) any_seeds |= s.ids.size() > 1;
  if (any_seeds) {
    md += "## Seeds\n\nVariants that differ only in their seed are one shape; its point is the mean over seeds, "
          "its error bar one sample standard deviation; \"eval SE\" is the noise of the held-out evaluation "
          "itself (root mean square over the seeds' runs).\n\n| shape | seeds | neg. log-ppl mean ± std | min | max | eval SE |\n"
          "|---|---:|---:|---:|---:|---:|\n";
    for (const auto& s : shapes)
      md += fmt::format("| {} | {} | {} | {} | {} | {} |\n", s.shape_id, s.ids.size(),
                        mean_pm({s.quality_mean, s.quality_std}, s.ids.size()), fixed(s.quality_min), fixed(s.quality_max),
                        eval_se_text({&s}));
    md += "\n";
  }

  md += "## Pareto frontiers\n\nA run is on a frontier when no other run has lower or equal cost and higher or "
        "equal quality (better in one). With several seeds a point is the mean over seeds.\n\n";
  for (const auto& [name, frontier] : costs) {
    md += fmt::format("### quality vs {}\n\n| id | {} | neg. log-ppl |\n|---|---:|---:|\n", cost_label.at(name), name);
    for (const auto& p : frontier->points())
      md += fmt::format("| {} | {} | {} |\n", p.id, std::string(name) == "step_time" ? fixed(p.cost, 3) : count(p.cost),
                        fixed(p.quality));
    md += fmt::format("\n![quality vs {}](quality_vs_{}.png)\n\n", name, name);
  }

  md += frontier_certainty(shapes, frontiers, sure);
  md += dimension_tables(shapes);
  const nlohmann::ordered_json fits = scaling_fits(shapes);
  write_text(out_dir + "/fits.json", fits.dump(1) + "\n", out.files);
  md += scaling_fits_markdown(fits);
  const DownstreamReport downstream = downstream_report(file.records, shapes);
  md += downstream.markdown;

  // The plot data: everything the script draws, already computed.
  json data = {{"title", sweep_name}, {"budget", budget_text(file.records)}, {"points", json::array()},
               {"frontiers", json::object()}, {"curves", json::array()}, {"depth", nullptr},
               {"baseline", std::isfinite(baseline.nats) ? json(baseline.nats) : json(nullptr)}};
  for (const auto& s : shapes)
    data["points"].push_back({{"id", s.label}, {"shape_id", s.shape_id}, {"params", s.params},
                              {"flops", s.train_flops}, {"step_time", s.step_time}, {"quality", s.quality_mean},
                              {"quality_std", s.quality_std}, {"seeds", s.ids.size()}});
  for (const auto& [name, frontier] : costs)
    data["frontiers"][name] = {{"label", cost_label.at(name)}, {"points", to_json(*frontier)}};
  data["curves"] = loss_curves(opt.results_dir + "/steps", shapes, file.records);
  if (!downstream.plot_data.is_null()) data["downstream"] = downstream.plot_data;
  // Depth curve: quality against depth for shapes that differ only in el/dl.
  std::map<std::string, std::vector<const ShapeSummary*>> families;
  for (const auto& s : shapes) {
    json rest = s.shape;
    rest.erase("el");
    rest.erase("dl");
    rest.erase("name");
    families[rest.dump()].push_back(&s);
  }
  json series = json::array();
  bool all_equal_depth = true;
  for (const auto& s : shapes) all_equal_depth &= s.shape.value("el", 0) == s.shape.value("dl", 0);
  for (auto& [rest, members] : families) {
    std::set<int64_t> depths;
    for (const ShapeSummary* s : members) depths.insert(s->shape.value("el", int64_t{0}) + s->shape.value("dl", int64_t{0}));
    if (depths.size() < 2) continue;
    std::sort(members.begin(), members.end(), [](const ShapeSummary* a, const ShapeSummary* b) {
      return a->shape.value("el", 0) + a->shape.value("dl", 0) < b->shape.value("el", 0) + b->shape.value("dl", 0);
    });
    json one = {{"x", json::array()}, {"y", json::array()}, {"yerr", json::array()}, {"labels", json::array()}};
    for (const ShapeSummary* s : members) {
      const int64_t el = s->shape.value("el", int64_t{0}), dl = s->shape.value("dl", int64_t{0});
      one["x"].push_back(all_equal_depth ? el : el + dl);
      one["y"].push_back(s->quality_mean);
      one["yerr"].push_back(s->quality_std);
      one["labels"].push_back(s->label);
    }
    series.push_back(one);
  }
  if (!series.empty())
    data["depth"] = {{"x_label", all_equal_depth ? "nl (encoder layers = decoder layers)" : "el + dl (total layers)"},
                     {"series", series}};
  md += "## Loss curves\n\n![loss curves](loss_curves.png)\n\n";
  if (!series.empty()) md += "## Depth\n\n![quality vs depth](depth_curve.png)\n\n";
  if (!file.records.front().value("context", json::object()).empty())
    md += fmt::format("## Context\n\n```json\n{}\n```\n", file.records.front()["context"].dump(2));
  const std::string data_path = out_dir + "/report_data.json";
  write_text(data_path, data.dump(1) + "\n", out.files);
  write_text(out_dir + "/report.md", md, out.files);
  out.report_md = out_dir + "/report.md";

  if (!opt.plot_script.empty()) {
    if (!fs::exists(opt.plot_script)) {
      out.plot_error = opt.plot_script + ": plotting script not found";
    } else {
      const int rc = run_process({opt.python, opt.plot_script, data_path, out_dir});
      if (rc != 0) out.plot_error = fmt::format("{} {} exited with status {}", opt.python, opt.plot_script, rc);
    }
  }
  std::vector<std::string> stems = {"quality_vs_params", "quality_vs_flops", "quality_vs_step_time", "loss_curves",
                                    "depth_curve"};
  if (!downstream.plot_data.is_null())
    for (const auto& [task, unused] : downstream.plot_data.items()) stems.push_back("downstream_" + task);
  for (size_t i = 0; i < fits["axes"].size(); ++i) stems.push_back(fmt::format("scaling_fit_{}", i));
  for (const std::string& stem : stems)
    for (const char* ext : {".png", ".svg"})
      if (fs::exists(out_dir + "/" + stem + ext)) out.files.push_back(out_dir + "/" + stem + ext);
  return out;
}

}  // namespace t5
