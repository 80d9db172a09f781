// The sweep loop: claim, run, publish (see runner.h).
#include "sweeps/runner.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/describe.h"
#include "core/error.h"
#include "core/interrupt.h"
#include "core/json_file.h"
#include "core/progress.h"
#include "core/step_bench.h"
#include "results/context.h"
#include "sweeps/downstream_stage.h"
#include "results/records.h"

namespace t5 {

using nlohmann::json;

namespace {

RecordParts record_parts(const SweepSpec& spec, const Variant& v, const VariantOutcome& o, const std::string& status,
                         const std::string& error, double ceiling) {
  const Lengths len = step_lengths(spec.settings);
  const FlopBreakdown flops = count_flops(v.shape, len);
  RecordParts p;
  p.id = v.id;
  p.sweep = spec.name;
  p.status = status;
  p.error = error;
  p.seed = v.seed;
  p.shape = shape_to_json(v.shape);
  p.coordinates = v.coordinates;
  p.params = count_params(v.shape).total;
  p.forward_flops_per_example = flops.forward_per_example;
  p.train_flops_per_step = flops.train_per_step;
  p.kaplan_6n_per_step = flops.kaplan_6n_per_step;
  p.budget_kind = to_string(spec.settings.budget.kind);
  p.budget_value = spec.settings.budget.value;
  p.steps = v.steps;
  p.steps_done = o.steps_done;
  p.batch = len.batch;
  p.inputs_length = len.inputs;
  p.targets_length = len.targets;
  p.settings = to_json(spec.settings);
  p.throughput = measure_throughput(o.step_seconds, len.batch, len.inputs, len.targets, flops.train_per_step,
                                    ceiling, variant_peak_rss_bytes());
  p.throughput.precision_path = precision_path(parse_gemm_precision(spec.settings.precision));
  p.eval_loss = o.eval_loss;
  p.eval_tokens = o.eval_tokens;
  p.eval_batches = o.eval_batches;
  p.eval_loss_standard_error = o.eval_loss_standard_error;
  p.eval_batch_losses = o.eval_batch_losses;
  p.eval_batch_tokens = o.eval_batch_tokens;
  p.final_train_loss = o.train_curve.empty() ? std::nan("") : o.train_curve.back().second;
  p.train_curve = o.train_curve;
  p.data = o.data;
  p.downstream = o.downstream;
  json context = run_context();
  context["resumed_from_step"] = o.resumed_from;
  p.context = context;
  return p;
}

}  // namespace

// The kernel's peak-RSS counter (VmHWM) is reset by writing 5 to clear_refs (Linux >= 4.0); getrusage's
// maximum is not, so it only serves when /proc is missing.
void reset_peak_rss() {
  std::ofstream clear("/proc/self/clear_refs");
  if (clear.good()) clear << "5";
}

int64_t variant_peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return int64_t(std::stoll(line.substr(6))) * 1024;   // "VmHWM:   1234 kB"
  return peak_rss_bytes();
}

void trim_steps_log(const std::string& path, int64_t upto) {
  std::string kept;
  if (upto > 0) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      const json j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("step") || !j["step"].is_number_integer()) continue;
      if (j["step"].get<int64_t>() <= upto) kept += line + "\n";
    }
  }
  // A bare file name ("run.jsonl") has no directory to create (create_directories("") is an error).
  if (const auto parent = std::filesystem::path(path).parent_path(); !parent.empty())
    std::filesystem::create_directories(parent);
  write_text_atomic(path, kept);
}

void prepare_results_dir(const SweepSpec& spec, const std::string& out_dir, const std::function<void()>& under_lock) {
  namespace fs = std::filesystem;
  fs::create_directories(out_dir);
  // Several workers may start on one directory at once: one writes spec.json, the others compare.
  const std::string lock_path = out_dir + "/spec.lock";
  const int lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  T5_CHECK(lock >= 0, "{}: cannot open: {}", lock_path, std::strerror(errno));
  const std::unique_ptr<int, void (*)(int*)> closer(new int(lock), [](int* fd) {
    ::close(*fd);
    delete fd;
  });
  while (::flock(lock, LOCK_EX) != 0) T5_CHECK(errno == EINTR, "{}: flock failed: {}", lock_path, std::strerror(errno));
  const std::string path = ResultsLayout{out_dir}.spec();
  const std::string text = spec.source.dump(2) + "\n";
  if (fs::exists(path)) {
    json existing;
    try {
      existing = read_json_file(path);
    } catch (const Error& e) {   // a damaged copy is not "a different spec"
      throw Error(e.message(), fmt::format("the results directory's copy of the spec was damaged: restore it, or "
                                           "copy {} over it if the directory holds this sweep's results", spec.path));
    }
    if (existing != spec.source) {
      // Name the first key that differs ("/budget/steps" -> budget.steps), so the user sees what changed.
      std::string key = json::diff(existing, spec.source).at(0).at("path").get<std::string>();
      std::replace(key.begin(), key.end(), '/', '.');
      throw Error(fmt::format("{}: holds a different sweep spec than {} (key '{}' differs)", path, spec.path,
                              key.empty() ? "" : key.substr(1)),
                  "resume with the same spec, or pass a new --out directory");
    }
  } else {
    write_text_atomic(path, text);
  }
  if (under_lock) under_lock();
}

SweepSummary run_sweep(const SweepSpec& spec, const Expansion& expansion, const VariantRunner& runner,
                       const SweepOptions& options) {
  SweepSummary summary;
  summary.out_dir = options.out_dir.empty() ? "results/" + spec.name : options.out_dir;
  prepare_results_dir(spec, summary.out_dir);
  const ResultsLayout layout{summary.out_dir};
  auto scheduler = make_file_lock_scheduler(layout, expansion.variants);
  const size_t total = expansion.variants.size();
  summary.skipped_finished = int64_t(scheduler->finished().size());
  const Lengths len = step_lengths(spec.settings);
  // Training FLOPs of the variants without a record (any worker's): what the ETA is left to cover.
  const auto flops_left = [&] {
    const std::vector<std::string> done = scheduler->finished();
    double left = 0;
    for (const auto& v : expansion.variants)
      if (std::find(done.begin(), done.end(), v.id) == done.end())
        left += double(v.steps) * count_flops(v.shape, len).train_per_step;
    return left;
  };
  double seconds_spent = 0, flops_spent = 0;
  const bool stderr_tty = ::isatty(STDERR_FILENO) != 0;
  const auto log = [&](const std::string& line) {
    // On a terminal the trainer redraws a progress line in place: clear it before a line of ours.
    if (options.progress) std::cerr << (stderr_tty ? "\r\033[K" : "") << options.worker_label << line << std::endl;
  };
  log(fmt::format("sweep {}: {} variants, {} finished before, results in {}", spec.name, total,
                  summary.skipped_finished, summary.out_dir));
  // An interrupt (core/interrupt.h) stops the loop before the next claim, or inside a variant: then
  // the trainer has checkpointed its last step and the variant gets no record, only its claim back.
  while (!interrupt_requested()) {
    std::unique_ptr<Claim> claim = scheduler->claim();
    if (!claim) break;
    const Variant v = claim->variant();
    const VariantContext context{layout.checkpoint(v.id), layout.steps(v.id), layout.downstream(v.id)};
    reset_peak_rss();
    const auto start = std::chrono::steady_clock::now();
    VariantOutcome outcome;
    outcome.eval_loss = std::nan("");
    std::string status = "ok", error;
    try {
      outcome = runner(spec, v, context);
      if (outcome.diverged) {
        status = "diverged";
        error = outcome.error.empty() ? "non-finite loss" : outcome.error;
      }
    } catch (const Interrupted& e) {
      scheduler->release(std::move(claim));
      summary.interrupted_variant = v.id;
      summary.interrupted_step = e.step();
      break;
    } catch (const std::exception& e) {
      status = "failed";
      error = e.what();
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    scheduler->publish(std::move(claim), make_record(record_parts(spec, v, outcome, status, error, options.gemm_ceiling)));
    if (status == "ok" && !options.keep_checkpoints) {
      std::filesystem::remove_all(context.checkpoint_dir);
      prune_downstream_dir(context.downstream_dir);
    }
    ++summary.ran;
    summary.failed += status == "failed";
    summary.diverged += status == "diverged";
    seconds_spent += seconds;
    flops_spent += double(std::max<int64_t>(0, outcome.steps_done - outcome.resumed_from)) *
                   count_flops(v.shape, len).train_per_step;
    const size_t finished = scheduler->finished().size();
    // This worker's rate times the number of workers, over what nobody has finished yet.
    const double eta = flops_spent > 0 && seconds_spent > 0
                           ? flops_left() / (flops_spent / seconds_spent * std::max(1, options.workers))
                           : std::nan("");
    log(fmt::format("[{}/{}] {} {}: {} steps{} in {}, eval loss {}{} | ETA {}", finished, total, v.id, status,
                    outcome.steps_done, outcome.resumed_from > 0 ? fmt::format(" (resumed at {})", outcome.resumed_from) : "",
                    format_duration(seconds), std::isfinite(outcome.eval_loss) ? fmt::format("{:.4f}", outcome.eval_loss) : "—",
                    error.empty() ? "" : " (" + error + ")", format_duration(eta)));
  }
  summary.interrupted = interrupt_requested() || !summary.interrupted_variant.empty();
  summary.left_to_others = int64_t(total) - int64_t(scheduler->finished().size());
  if (summary.left_to_others > 0 && !summary.interrupted)
    log(fmt::format("sweep {}: {} variant(s) are running in another process", spec.name, summary.left_to_others));
  return summary;
}

}  // namespace t5
