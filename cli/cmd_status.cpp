// t5scale status results/NAME [--json] : where a sweep stands, read from its results directory
// (sweeps/status.h) and, for the Slurm jobs `sweep --slurm` submitted for it, from squeue / scontrol
// (cluster/slurm.h): variants done (ok, diverged, failed), running (and who runs them: host, pid,
// Slurm task), pending (from their checkpoint's step), the jobs' task states, and the ETA at the rate
// the steps logs show. `sweep SPEC --status` prints the same for the spec's results directory.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/command.h"
#include "cli/sweep_status.h"
#include "cluster/slurm.h"
#include "core/describe.h"
#include "core/error.h"
#include "core/json_file.h"
#include "core/progress.h"
#include "results/records.h"
#include "sweeps/schedule.h"
#include "sweeps/spec.h"
#include "sweeps/status.h"

namespace t5::cli {
namespace {

using nlohmann::json;

// The most recent submissions asked about (older ones are listed in jobs.jsonl).
constexpr size_t kJobsShown = 5;

// Who holds a running variant, in words: "slurm task 12_1 on node7, pid 4242" or "host vm, pid 4242".
std::string claimant_text(const json& c) {
  if (!c.is_object() || c.empty()) return "";
  const std::string host = c.value("host", "?");
  const std::string pid = c.contains("pid") ? c["pid"].dump() : "?";
  if (c.contains("slurm") && c["slurm"].is_object()) {
    const json& s = c["slurm"];
    const std::string task = s.value("task", s.value("job_id", "?"));
    return fmt::format("slurm task {} on {}, pid {}", task, host, pid);
  }
  return fmt::format("host {}, pid {}", host, pid);
}

// The submissions of jobs.jsonl (newest last), each with what Slurm says of its job now.
json slurm_jobs(const std::string& out_dir) {
  const RecordFile file = read_records(slurm_layout(out_dir).jobs());
  json jobs = json::array();
  const size_t first = file.records.size() > kJobsShown ? file.records.size() - kJobsShown : 0;
  for (size_t i = first; i < file.records.size(); ++i) {
    json job = file.records[i];
    if (!job.contains("job_id") || !job["job_id"].is_string()) continue;
    const SlurmJobState state = query_slurm_job(job["job_id"].get<std::string>());
    json tasks = json::array();
    for (const SlurmTask& t : state.tasks) tasks.push_back({{"id", t.id}, {"state", t.state}, {"detail", t.detail}});
    job["slurm_known"] = state.known;
    job["slurm_note"] = state.note;
    job["slurm_tasks"] = tasks;
    jobs.push_back(job);
  }
  return jobs;
}

// "RUNNING 12_0 (node1), 12_1 (node1); PENDING 12_2 (Resources)": the tasks grouped by state.
std::string tasks_text(const json& tasks) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::string>> by_state;
  for (const json& t : tasks) {
    const std::string state = t.value("state", "?");
    if (!by_state.count(state)) order.push_back(state);
    const std::string detail = t.value("detail", "");
    by_state[state].push_back(detail.empty() ? t.value("id", "?") : fmt::format("{} ({})", t.value("id", "?"), detail));
  }
  std::vector<std::string> parts;
  for (const std::string& state : order) parts.push_back(fmt::format("{} {}", state, fmt::join(by_state[state], ", ")));
  return fmt::format("{}", fmt::join(parts, "; "));
}

void print_text(const SweepStatus& s, const json& jobs) {
  std::cout << fmt::format("sweep {} ({}): {} variants: {} ok, {} diverged, {} failed, {} running, {} pending\n", s.name,
                           s.out_dir, s.variants.size(), s.ok, s.diverged, s.failed, s.running, s.pending);
  for (const json& job : jobs) {
    const std::string tasks = job.contains("tasks") ? job["tasks"].dump() : "?";
    const std::string head = fmt::format("slurm job {} (submitted {}, {} task{})", job.value("job_id", "?"),
                                         job.value("submitted", "?"), tasks, tasks == "1" ? "" : "s");
    if (!job.value("slurm_known", false)) std::cout << fmt::format("{}: {}\n", head, job.value("slurm_note", "unknown"));
    else std::cout << fmt::format("{}: {}\n", head, tasks_text(job["slurm_tasks"]));
  }
  size_t width = 20;
  for (const VariantState& v : s.variants) width = std::max(width, v.id.size());
  const auto row = [&](const std::string& id, const std::string& state, const std::string& step, const std::string& where) {
    std::string line = fmt::format("{:<{}}  {:<8}  {:>13}  {}", id, width, state, step, where);
    line.erase(line.find_last_not_of(' ') + 1);
    std::cout << line << "\n";
  };
  row("id", "state", "step", "");
  for (const VariantState& v : s.variants)
    row(v.id, v.state, fmt::format("{}/{}", v.step, v.steps),
        v.state == "pending" && v.step > 0 ? "resumes from its checkpoint" : claimant_text(v.claimant));
  if (s.flops_left == 0) {
    std::cout << "ETA 0s: every variant has a record\n";
  } else if (!std::isfinite(s.eta_seconds)) {
    std::cout << "ETA ?: no training step logged yet\n";
  } else {
    std::cout << fmt::format("ETA {} at {} worker{} ({} FLOP/s each, measured over {} logged steps; {} training FLOPs left)\n",
                             format_duration(s.eta_seconds), s.workers, s.workers == 1 ? "" : "s",
                             human_count(s.flops_per_second_per_worker), s.logged_steps, human_count(s.flops_left));
  }
}

int run_status_command(const std::vector<std::string>& args) {
  po::options_description opts("t5scale status results/NAME [--json]");
  std::string dir;
  opts.add_options()
      ("dir", po::value<std::string>(&dir)->required(), "a sweep's results directory")
      ("json", po::bool_switch(), "one JSON object on stdout instead of the table");
  po::variables_map vm;
  if (!parse_options("status", args, opts, vm, {{"dir", 1}})) return 0;
  return show_sweep_status(dir, vm["json"].as<bool>());
}

const Registrar kStatus("status", "where a sweep stands: variants done/running/pending, its Slurm jobs, ETA",
                        run_status_command);

}  // namespace

int show_sweep_status(const std::string& out_dir, bool as_json) {
  namespace fs = std::filesystem;
  T5_CHECK_HINT(fs::is_directory(out_dir), "run or submit the sweep first (t5scale sweep SPEC [--slurm])",
                "{}: no such directory", out_dir);
  const std::string spec_path = ResultsLayout{out_dir}.spec();
  T5_CHECK_HINT(fs::exists(spec_path), "give the directory `t5scale sweep` wrote (results/<sweep name>)",
                "{}: not a sweep's results directory (no spec.json)", out_dir);
  const SweepSpec spec = parse_sweep_spec(read_json_file(spec_path), spec_path);
  // The variants as `sweep` expands them on this machine (the same memory limit skips the same shapes
  // on nodes of one kind).
  ExpandOptions expand_options;
  expand_options.memory_limit_bytes = physical_memory_bytes();
  const SweepStatus status = sweep_status(spec, expand(spec, expand_options), out_dir);
  const json jobs = slurm_jobs(out_dir);
  if (as_json) {
    json j = to_json(status);
    j["slurm_jobs"] = jobs;
    std::cout << j.dump() << "\n";
  } else {
    print_text(status, jobs);
  }
  return 0;
}

}  // namespace t5::cli
