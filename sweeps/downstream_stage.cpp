// The downstream stage of a sweep variant (sweeps/downstream_stage.h).
#include "sweeps/downstream_stage.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "core/error.h"
#include "downstream/finetune.h"
#include "downstream/tasks.h"

namespace t5 {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

FinetuneConfig finetune_config(const DownstreamSpec& d, const std::string& task, uint64_t seed, const std::string& out) {
  FinetuneConfig c;
  c.task = task;
  c.task_dir = (fs::path(d.tasks_dir) / task).string();
  c.tokenizer = d.tokenizer;
  c.out_dir = out;
  c.steps = d.steps;
  c.batch = d.batch;
  c.inputs_length = d.inputs_length;
  c.targets_length = d.targets_length;
  c.eval_every = d.eval_every;
  c.max_eval_examples = d.max_eval_examples;
  c.optimizer.name = d.optimizer;
  c.schedule.kind = parse_schedule_kind(d.schedule);
  c.schedule.lr = d.lr;
  c.dropout = d.dropout;
  c.seed = seed;
  c.generate.num_beams = d.beam;
  c.generate.max_new_tokens = d.targets_length;
  return c;
}

json run_json(uint64_t seed, const FinetuneResult& r) {
  json best = json::object(), test = json::object();
  for (const auto& [k, v] : r.best_validation) best[k] = v;
  for (const auto& [k, v] : r.test) test[k] = v;
  return {{"seed", seed},          {"best_step", r.best_step},         {"best_validation", best},
          {"test", test},          {"train_seconds", r.train_seconds}, {"eval_seconds", r.eval_seconds},
          {"train_examples", r.train_examples}, {"test_examples", r.test_examples}};
}

// Runs of one (task, start) pair summarised by the primary test metric.
json summarise(const json& runs, const std::string& primary) {
  double sum = 0, sum_sq = 0;
  const double n = double(runs.size());
  for (const auto& r : runs) sum += r["test"][primary].get<double>();
  const double mean = sum / n;
  for (const auto& r : runs) sum_sq += std::pow(r["test"][primary].get<double>() - mean, 2);
  return {{"runs", runs}, {"n", runs.size()}, {"test_mean", mean},
          {"test_sd", runs.size() >= 2 ? json(std::sqrt(sum_sq / (n - 1))) : json(nullptr)}};
}

}  // namespace

json run_downstream_stage(const SweepSpec& spec, const Variant& variant, const Model& pretrained, const std::string& dir) {
  const DownstreamSpec& d = spec.downstream;
  const auto t0 = std::chrono::steady_clock::now();
  json tasks = json::object();
  Model model(variant.shape);
  for (const std::string& task : d.tasks) {
    const TaskInfo info = task_info(task);
    json entry = {{"primary_metric", info.primary_metric}, {"higher_is_better", info.higher_is_better}};
    for (const bool scratch : {false, true}) {
      if (scratch && !d.from_scratch) continue;
      json runs = json::array();
      for (uint64_t seed : d.seeds) {
        if (scratch) init_params(model, variant.seed);   // the pretraining's own init, untrained
        else std::copy(pretrained.params(), pretrained.params() + pretrained.num_params(), model.params());
        const std::string out = (fs::path(dir) / fmt::format("{}{}-s{}", task, scratch ? "-scratch" : "", seed)).string();
        const FinetuneResult r = finetune(model, finetune_config(d, task, seed, out));
        runs.push_back(run_json(seed, r));
      }
      entry[scratch ? "from_scratch" : "pretrained"] = summarise(runs, info.primary_metric);
    }
    tasks[task] = entry;
  }
  return {{"settings", to_json(d)},
          {"tasks", tasks},
          {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
}

void prune_downstream_dir(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  for (const auto& run : fs::directory_iterator(dir, ec)) {
    if (!fs::exists(run.path() / "finetune.json")) continue;   // unfinished: keep it resumable
    fs::remove_all(run.path() / "checkpoint", ec);
    fs::remove_all(run.path() / "best", ec);
  }
}

}  // namespace t5
