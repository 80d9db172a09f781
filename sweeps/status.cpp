// A sweep's progress from its results directory (see status.h).
#include "sweeps/status.h"

#include <algorithm>
#include <cmath>
#include <fstream>

#include "core/counts.h"
#include "results/records.h"
#include "sweeps/schedule.h"
#include "sweeps/trainer_runner.h"

namespace t5 {

using nlohmann::json;

namespace {

// Step lines of a steps log: how many, their summed seconds, the last step.
struct LoggedSteps {
  int64_t count = 0, last = 0;
  double seconds = 0;
};

LoggedSteps read_logged_steps(const std::string& path) {
  LoggedSteps s;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    const json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || j.value("type", "") != "step") continue;
    if (!j.contains("step") || !j["step"].is_number_integer()) continue;
    s.last = j["step"].get<int64_t>();
    if (!j.contains("seconds") || !j["seconds"].is_number()) continue;
    ++s.count;
    s.seconds += j["seconds"].get<double>();
  }
  return s;
}

// The steps a record says were done (older records without the field: the budget).
int64_t record_steps_done(const json& r, int64_t budget) {
  if (r.contains("budget") && r["budget"].is_object() && r["budget"].contains("steps_done") &&
      r["budget"]["steps_done"].is_number_integer())
    return r["budget"]["steps_done"].get<int64_t>();
  return budget;
}

}  // namespace

SweepStatus sweep_status(const SweepSpec& spec, const Expansion& expansion, const std::string& out_dir) {
  SweepStatus s;
  s.name = spec.name;
  s.out_dir = out_dir;
  const ResultsLayout layout{out_dir};
  const RecordFile records = read_records(layout.runs());
  const Lengths lengths = step_lengths(spec.settings);
  double logged_flops = 0;
  for (const Variant& v : expansion.variants) {
    VariantState st;
    st.id = v.id;
    st.steps = v.steps;
    st.train_flops_per_step = count_flops(v.shape, lengths).train_per_step;
    const LoggedSteps logged = read_logged_steps(layout.steps(v.id));
    s.logged_steps += logged.count;
    s.logged_seconds += logged.seconds;
    logged_flops += double(logged.count) * st.train_flops_per_step;
    // The last record of the id decides (a retried variant's newer record follows the older one's place).
    const json* record = nullptr;
    for (const json& r : records.records)
      if (r.contains("id") && r["id"] == v.id) record = &r;
    if (record != nullptr) {
      st.state = record->contains("status") && (*record)["status"].is_string() ? (*record)["status"].get<std::string>()
                                                                                : "failed";
      st.step = record_steps_done(*record, v.steps);
      s.ok += st.state == "ok";
      s.diverged += st.state == "diverged";
      s.failed += st.state != "ok" && st.state != "diverged";
    } else if (auto claimant = variant_claimant(layout, v.id)) {
      st.state = "running";
      st.step = logged.last;
      st.claimant = *claimant;
      ++s.running;
    } else {
      st.state = "pending";
      st.step = checkpoint_step(layout.checkpoint(v.id));
      ++s.pending;
    }
    if (record == nullptr) s.flops_left += double(std::max<int64_t>(0, v.steps - st.step)) * st.train_flops_per_step;
    s.variants.push_back(std::move(st));
  }
  s.workers = std::max<int>(1, int(s.running));
  s.flops_per_second_per_worker = s.logged_seconds > 0 ? logged_flops / s.logged_seconds : std::nan("");
  s.eta_seconds = s.flops_left == 0                                ? 0.0
                  : std::isfinite(s.flops_per_second_per_worker)   ? s.flops_left / (s.flops_per_second_per_worker * s.workers)
                                                                   : std::nan("");
  return s;
}

json to_json(const VariantState& v) {
  return {{"id", v.id},     {"state", v.state}, {"step", v.step}, {"steps", v.steps},
          {"train_flops_per_step", v.train_flops_per_step}, {"claimant", v.claimant}};
}

json to_json(const SweepStatus& s) {
  const auto number = [](double x) { return std::isfinite(x) ? json(x) : json(nullptr); };
  json variants = json::array();
  for (const VariantState& v : s.variants) variants.push_back(to_json(v));
  return {{"sweep", s.name},
          {"out_dir", s.out_dir},
          {"variants", s.variants.size()},
          {"ok", s.ok},
          {"diverged", s.diverged},
          {"failed", s.failed},
          {"running", s.running},
          {"pending", s.pending},
          {"logged_steps", s.logged_steps},
          {"logged_seconds", s.logged_seconds},
          {"flops_per_second_per_worker", number(s.flops_per_second_per_worker)},
          {"flops_left", s.flops_left},
          {"workers", s.workers},
          {"eta_seconds", number(s.eta_seconds)},
          {"variant_states", variants}};
}

}  // namespace t5
