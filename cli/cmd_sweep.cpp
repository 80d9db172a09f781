// t5scale sweep SPEC [--out results/NAME] [--jobs N] [--retry-failed] [--dry-run] : trains every
// variant of a sweep spec and appends one record per variant to results/NAME/runs.jsonl
// (sweeps/runner.h); --retry-failed first moves the failed records to runs.retried.jsonl
// (sweeps/schedule.h release_for_retry) so those variants run again. Ctrl-C / SIGTERM: every worker
// checkpoints its running variant at its last finished step, leaves it without a record and exits
// 130; the same command resumes (core/interrupt.h). A sweep that ends with failed variants still prints
// its summary and exits 2, so scripts notice; diverged variants are results, not failures.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/ranges.h>

#include "cli/command.h"
#include "core/counts.h"
#include "core/describe.h"
#include "core/error.h"
#include "core/ceiling.h"
#include "core/gemm.h"
#include "core/interrupt.h"
#include "core/progress.h"
#include "results/records.h"
#include "sweeps/ceiling.h"
#include "sweeps/runner.h"
#include "sweeps/spec.h"
#include "sweeps/trainer_runner.h"

extern char** environ;

namespace t5::cli {
namespace {

// Fraction of the GEMM ceiling a training step reaches, for --dry-run's time estimate only (the
// real MFU of every run is measured and recorded).
constexpr double kAssumedMfu = 0.3;

void print_dry_run(const SweepSpec& spec, const Expansion& e, double flops_per_second, const std::string& rate_source) {
  const Lengths len = step_lengths(spec.settings);
  std::cout << fmt::format("sweep {}: {} variants ({} skipped); budget {} {}; batch {}, inputs {}, targets {}\n", spec.name,
                           e.variants.size(), e.skipped.size(), human_count(spec.settings.budget.value),
                           to_string(spec.settings.budget.kind), len.batch, len.inputs, len.targets);
  std::cout << fmt::format("time estimate at {:.1f} GFLOP/s ({})\n", flops_per_second / 1e9, rate_source);
  // Ids grow with every knob of the base and the grid: the column is as wide as the longest.
  size_t id_width = 30;
  for (const auto& v : e.variants) id_width = std::max(id_width, v.id.size());
  std::cout << fmt::format("{:<{}} {:>3} {:>3} {:>5} {:>6} {:>4} {:>4} {:>10} {:>12} {:>10} {:>6} {:>10} {:>9}\n", "id",
                           id_width, "el", "dl", "dm", "ff", "kv", "nh", "ffn", "params", "FLOPs/step", "steps", "FLOPs",
                           "est.time");
  double total_flops = 0;
  for (const auto& v : e.variants) {
    const double per_step = count_flops(v.shape, len).train_per_step;
    const double flops = per_step * double(v.steps);
    total_flops += flops;
    const Shape& s = v.shape;
    std::cout << fmt::format("{:<{}} {:>3} {:>3} {:>5} {:>6} {:>4} {:>4} {:>10} {:>12} {:>10} {:>6} {:>10} {:>9}\n", v.id,
                             id_width, s.el, s.dl, s.dm, s.ff, s.kv, s.nh, to_string(s.feed_forward),
                             with_commas(count_params(s).total), human_count(per_step), v.steps, human_count(flops),
                             format_duration(flops / flops_per_second));
  }
  std::cout << fmt::format("total: {} training FLOPs, estimated {}\n", human_count(total_flops),
                           format_duration(total_flops / flops_per_second));
  for (const auto& s : e.skipped) std::cout << fmt::format("skipped {}: {}\n", s.id, s.reason);
}

// Starts `count` more workers of this sweep: this binary with the same spec and directory, each a
// process of its own (the file-lock scheduler gives each variant to one of them).
std::vector<pid_t> spawn_workers(int count, const std::string& spec_path, const std::string& out_dir, int threads,
                                 bool keep_checkpoints, bool quiet, int jobs) {
  std::vector<pid_t> pids;
  for (int i = 1; i <= count; ++i) {
    std::vector<std::string> args = {"t5scale", "sweep", spec_path, "--out", out_dir, "--threads",
                                     std::to_string(threads), "--worker", std::to_string(i), "--jobs",
                                     std::to_string(jobs)};
    if (keep_checkpoints) args.push_back("--keep-checkpoints");
    if (quiet) args.push_back("--quiet");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int rc = ::posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), environ);
    T5_CHECK(rc == 0, "sweep: cannot start worker {}: {}", i, std::strerror(rc));
    pids.push_back(pid);
  }
  return pids;
}

struct WorkerExits {
  int failed = 0;        // exited with an error (it said why on stderr)
  int interrupted = 0;   // stopped by an interrupt, their variant checkpointed (exit 130)
  std::vector<std::string> killed;   // died by a signal (kill -9, a crash): "worker 1 (pid 123) was killed by SIGKILL"
};

// Waits for the workers (an interrupt meanwhile is passed on to them by the watcher, core/interrupt.h).
WorkerExits wait_workers(const std::vector<pid_t>& pids) {
  WorkerExits exits;
  for (size_t i = 0; i < pids.size(); ++i) {
    int status = 0;
    while (::waitpid(pids[i], &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status)) {
      const char* name = ::sigabbrev_np(WTERMSIG(status));
      exits.killed.push_back(fmt::format("worker {} (pid {}) was killed by {}", i + 1, pids[i],
                                         name ? fmt::format("SIG{}", name) : fmt::format("signal {}", WTERMSIG(status))));
      continue;
    }
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    exits.interrupted += code == kInterruptedExitCode;
    exits.failed += code != 0 && code != kInterruptedExitCode;
  }
  return exits;
}

// The exit status of a sweep that finished but has failed variants (1 is bad input or another error).
constexpr int kVariantsFailedExitCode = 2;

// The one line an interrupted sweep process leaves on stderr.
std::string interrupted_line(const SweepSummary& s, const std::string& label) {
  const std::string where = s.interrupted_variant.empty()
                                ? "between variants"
                                : fmt::format("at step {} of {}", s.interrupted_step, s.interrupted_variant);
  return fmt::format("{}sweep: interrupted {}; rerun the same command to resume\n", label, where);
}

// The sweep's outcome from its records (every worker's): data on stdout.
nlohmann::json sweep_summary(const Expansion& e, const std::string& out_dir, const SweepSummary& here,
                             int64_t retried) {
  const RecordFile file = read_records(ResultsLayout{out_dir}.runs());
  int64_t ok = 0, diverged = 0, failed = 0;
  std::vector<std::string> failed_ids;
  for (const auto& r : file.records) {
    const std::string status = r.value("status", "");
    ok += status == "ok";
    diverged += status == "diverged";
    failed += status == "failed";
    if (status == "failed") failed_ids.push_back(r.value("id", ""));
  }
  int64_t finished = 0;
  for (const auto& v : e.variants) finished += has_record(file, v.id);
  return {{"out_dir", out_dir},     {"runs", ResultsLayout{out_dir}.runs()},
          {"variants", e.variants.size()}, {"finished", finished},
          {"ok", ok},               {"diverged", diverged},
          {"failed", failed},       {"failed_variants", failed_ids},
          {"ran_in_this_process", here.ran},
          {"skipped_finished", here.skipped_finished},
          {"retried", retried}};
}

int run_sweep_command(const std::vector<std::string>& args) {
  po::options_description opts(
      "t5scale sweep SPEC [--out results/NAME] [--jobs N] [--retry-failed] [--dry-run]\n"
      "exit status: 0 every variant has a record, ok or diverged; 2 some variants failed (the summary is still "
      "printed; fix the cause and rerun with --retry-failed); 130 interrupted (rerun to resume); 1 any other error");
  std::string spec_path, out;
  double assume_gflops = 0;
  int jobs = 1, threads = 0, worker = 0;
  opts.add_options()
      ("spec", po::value<std::string>(&spec_path)->required(), "sweep spec (sweeps/*.json)")
      ("out", po::value<std::string>(&out), "results directory (default results/<spec name>)")
      ("jobs", po::value<int>(&jobs)->default_value(1), "worker processes training variants at once");
  add_threads_option(opts, threads, "threads per worker (default: the spec's 'threads', else the cores divided among the jobs)");
  opts.add_options()
      ("keep-checkpoints", po::bool_switch(), "keep finished variants' checkpoints (default: removed)")
      ("retry-failed", po::bool_switch(),
       "run the variants whose record says 'failed' again: their records move to runs.retried.jsonl (kept as "
       "history) and each resumes from its checkpoint if it left one (delete checkpoints/<id> to start it at "
       "step 0); a variant another worker is running is left alone. Without it a variant with any record is done")
      ("quiet", po::bool_switch(), "no progress lines on stderr")
      ("worker", po::value<int>(&worker)->default_value(0), "(internal) worker number of a --jobs sweep")
      ("dry-run", po::bool_switch(), "print the variants with params, FLOPs and estimated time; train nothing")
      ("assume-gflops", po::value<double>(&assume_gflops), "--dry-run: training speed in GFLOP/s for the estimate");
  po::variables_map vm;
  if (!parse_options("sweep", args, opts, vm, {{"spec", 1}})) return 0;
  const SweepSpec spec = load_sweep_spec(spec_path);
  ExpandOptions expand_options;
  expand_options.memory_limit_bytes = physical_memory_bytes();
  const Expansion expansion = expand(spec, expand_options);
  const bool retry_failed = vm["retry-failed"].as<bool>();
  T5_CHECK_HINT(!(retry_failed && vm["dry-run"].as<bool>()), "drop one of them",
                "--retry-failed moves records and --dry-run trains nothing: they cannot be used together");
  T5_CHECK(!(retry_failed && worker != 0), "--retry-failed is for the first worker only, not --worker {}", worker);
  T5_CHECK(jobs >= 1, "--jobs must be at least 1, got {}", jobs);
  if (vm.count("assume-gflops")) check_positive("--assume-gflops", assume_gflops);
  if (vm["dry-run"].as<bool>()) {
    check_training_lengths(spec);   // the corpus itself may not be there yet
    double rate = assume_gflops * 1e9;
    std::string source = "--assume-gflops";
    if (rate <= 0) {
      T5_CHECK(!expansion.variants.empty(), "{}: no variant to estimate", spec_path);
      // At the precision the variants will train in (a bf16 sweep's records measure MFU against bf16).
      const GemmCeiling g = measure_gemm_ceiling(expansion.variants.back().shape, step_lengths(spec.settings),
                                                 parse_gemm_precision(spec.settings.precision));
      rate = kAssumedMfu * g.flops_per_second;
      source = fmt::format("{:.0f}% of a {} {} GEMM ceiling of {:.1f} GFLOP/s measured now", kAssumedMfu * 100,
                           g.backend, precision_label(g), g.flops_per_second / 1e9);
    }
    print_dry_run(spec, expansion, rate, source);
    return 0;
  }
  // From here on Ctrl-C / SIGTERM stops after the running step, checkpointed (core/interrupt.h);
  // installed before any compute thread starts, so every one leaves the signals to the watcher.
  watch_for_interrupts();
  T5_CHECK_HINT(!expansion.variants.empty(), "check the grid", "{}: no variant to train ({} skipped)", spec_path,
                expansion.skipped.size());
  for (const auto& s : expansion.skipped)
    if (worker == 0) std::cerr << fmt::format("sweep: skipping {}: {}\n", s.id, s.reason);
  if (threads == 0) threads = spec.settings.threads > 0 ? int(spec.settings.threads)
                                                        : std::max(1, int(std::thread::hardware_concurrency()) / jobs);
  set_num_threads(threads);

  SweepOptions options;
  options.out_dir = out.empty() ? "results/" + spec.name : out;
  check_output_path("--out", options.out_dir, OutputKind::directory);
  options.keep_checkpoints = vm["keep-checkpoints"].as<bool>();
  options.progress = !vm["quiet"].as<bool>();
  options.workers = jobs;
  if (jobs > 1) options.worker_label = fmt::format("[worker {}] ", worker);
  check_training_data(spec, expansion);
  // Measured once per sweep, by whichever worker gets the directory's setup lock first.
  prepare_results_dir(spec, options.out_dir, [&] {
    if (spec.settings.data.source == "c4") {
      const nlohmann::json b = sweep_unigram_baseline(spec, options.out_dir);
      if (worker == 0 && options.progress)
        std::cerr << fmt::format("sweep {}: unigram baseline of the {} split: {:.4f} nats per target token\n",
                                 spec.name, b.value("split", ""), b.value("unigram_cross_entropy", 0.0));
    }
    options.gemm_ceiling = sweep_gemm_ceiling(options.out_dir, expansion.variants.back().shape,
                                              step_lengths(spec.settings), parse_gemm_precision(spec.settings.precision));
  });
  // Before any other worker starts, so the whole sweep sees the retried variants as unfinished.
  int64_t retried = 0;
  if (retry_failed) {
    const std::vector<nlohmann::json> moved =
        release_for_retry(ResultsLayout{options.out_dir}, expansion.variants, {"failed"});
    retried = int64_t(moved.size());
    if (options.progress && retried == 0) std::cerr << fmt::format("sweep {}: no failed records to retry\n", spec.name);
    if (options.progress && retried > 0)
      std::cerr << fmt::format("sweep {}: {} failed record(s) moved to {} for retry\n", spec.name, retried,
                               ResultsLayout{options.out_dir}.retried());
  }
  const std::vector<pid_t> workers =
      worker == 0 && !interrupt_requested()
          ? spawn_workers(jobs - 1, spec_path, options.out_dir, threads, options.keep_checkpoints, !options.progress,
                          jobs)
          : std::vector<pid_t>{};
  forward_interrupts_to(workers);
  SweepSummary here = run_sweep(spec, expansion, make_training_runner(), options);
  const WorkerExits exits = wait_workers(workers);
  // A worker killed by a signal left its variant without a record, its claim dropped with the
  // process: this process takes over what is left (resuming from the checkpoints), as a rerun would.
  if (!exits.killed.empty() && !here.interrupted && !interrupt_requested()) {
    for (const std::string& k : exits.killed)
      std::cerr << fmt::format("sweep: {}; taking over its variant\n", k);
    const SweepSummary more = run_sweep(spec, expansion, make_training_runner(), options);
    here.ran += more.ran;
    here.interrupted = more.interrupted;
    here.interrupted_variant = more.interrupted_variant;
    here.interrupted_step = more.interrupted_step;
  }
  if (here.interrupted || interrupt_requested()) {
    std::cerr << interrupted_line(here, options.worker_label);
    return kInterruptedExitCode;
  }
  if (worker != 0) return 0;
  T5_CHECK(exits.failed == 0, "sweep: {} worker process(es) stopped with an error (see above)", exits.failed);
  // A worker signalled alone gave its variant back; this process may have finished it since.
  const nlohmann::json summary = sweep_summary(expansion, options.out_dir, here, retried);
  T5_CHECK_HINT(exits.interrupted == 0 || summary["finished"] == summary["variants"], "rerun the same command to resume",
                "sweep: {} worker process(es) were interrupted; {} of {} variants have a record", exits.interrupted,
                summary["finished"].get<int64_t>(), summary["variants"].get<int64_t>());
  std::cout << summary.dump() << "\n";
  const auto failed = summary["failed_variants"].get<std::vector<std::string>>();
  if (failed.empty()) return 0;
  std::cerr << fmt::format("sweep: {} of {} variants failed ({}); their records in {} say why; fix the cause and "
                           "rerun with --retry-failed\n",
                           failed.size(), expansion.variants.size(), fmt::join(failed, ", "),
                           ResultsLayout{options.out_dir}.runs());
  return kVariantsFailedExitCode;
}

const Registrar kSweep("sweep", "train every variant of a sweep spec; records in results/NAME", run_sweep_command);

}  // namespace
}  // namespace t5::cli
