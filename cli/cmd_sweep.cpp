// t5scale sweep SPEC [--out results/NAME] [--jobs N] [--retry-failed] [--dry-run] : trains every
// variant of a sweep spec and appends one record per variant to results/NAME/runs.jsonl
// (sweeps/runner.h); --retry-failed first moves the failed records to runs.retried.jsonl
// (sweeps/schedule.h release_for_retry) so those variants run again. Ctrl-C / SIGTERM: every worker
// checkpoints its running variant at its last finished step, leaves it without a record and exits
// 130; the same command resumes (core/interrupt.h). A sweep that ends with failed variants still prints
// its summary and exits 2, so scripts notice; diverged variants are results, not failures.
// --slurm [--tasks N] [--sbatch "ARGS"] submits the sweep as a Slurm job array whose tasks are workers
// of the same results directory (cluster/slurm.h), prints the job id and returns; --status prints where
// the sweep stands (cli/sweep_status.h, as `t5scale status`).
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <thread>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/ranges.h>

#include "cli/command.h"
#include "cli/sweep_status.h"
#include "cluster/slurm.h"
#include "core/atomic_file.h"
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

// What `sweep --slurm` was asked for.
struct SlurmRequest {
  std::string out_dir;
  int tasks = 0;                 // 0: one task per variant without a record
  int threads = 0;               // 0: the spec's threads, else 1
  std::string sbatch;            // --sbatch "ARGS"
  bool dry_run = false, retry_failed = false, keep_checkpoints = false;
};

// The binary running now, by absolute path: what every task of the array runs.
std::string this_binary() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  T5_CHECK(!ec, "--slurm: cannot find this program's path: {}", ec.message());
  return self.string();
}

// Undoes what a submission wrote before sbatch failed, so a failed `sweep --slurm` leaves the
// directory as it found it: the retried records go back, the script is restored (or removed), and
// directories this submission created are removed.
struct SubmissionRollback {
  std::string out_dir, script;
  bool out_dir_existed = false, slurm_dir_existed = false, script_existed = false;
  std::string old_script;
  std::vector<nlohmann::json> retried;
  void operator()() const {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!retried.empty()) restore_retried(ResultsLayout{out_dir}, retried);
    if (!out_dir_existed) {
      fs::remove_all(out_dir, ec);
      return;
    }
    if (!slurm_dir_existed) {
      fs::remove_all(slurm_layout(out_dir).dir, ec);
      return;
    }
    if (script_existed) write_text_atomic(script, old_script);
    else fs::remove(script, ec);
  }
};

// sweep --slurm: writes results/NAME/slurm/sweep.sbatch, submits it, records the job in
// slurm/jobs.jsonl and prints its id (--dry-run: prints the script, writes and submits nothing).
int submit_to_slurm(const SweepSpec& spec, const std::string& spec_path, const Expansion& expansion,
                    const SlurmRequest& request) {
  namespace fs = std::filesystem;
  const std::vector<std::string> sbatch_args = split_sbatch_args(request.sbatch);
  T5_CHECK_HINT(!expansion.variants.empty(), "check the grid", "{}: no variant to train ({} skipped)", spec_path,
                expansion.skipped.size());
  // The files every task will read, checked here, once, rather than failing in every task.
  check_training_data(spec, expansion);
  const std::string out_dir = fs::absolute(request.out_dir).lexically_normal().string();
  const ResultsLayout layout{out_dir};
  const SlurmLayout slurm = slurm_layout(out_dir);
  // One task per variant left (those without a record; with --retry-failed the failed ones too).
  const RecordFile records = read_records(layout.runs());
  int64_t left = 0;
  for (const Variant& v : expansion.variants) {
    bool failed = false, recorded = false;
    for (const auto& r : records.records)
      if (r.contains("id") && r["id"] == v.id) {
        recorded = true;
        failed = r.value("status", "") == "failed";
      }
    left += !recorded || (failed && request.retry_failed);
  }
  if (left == 0) {
    std::cerr << fmt::format("sweep {}: every variant has a record in {}; nothing to submit{}\n", spec.name,
                             layout.runs(), request.retry_failed ? "" : " (failed ones run again with --retry-failed)");
    return 0;
  }
  SlurmArray array;
  array.sweep_name = spec.name;
  array.binary = this_binary();
  array.spec_path = fs::absolute(spec_path).lexically_normal().string();
  array.out_dir = out_dir;
  array.workdir = fs::current_path().string();
  array.tasks = int(request.tasks > 0 ? std::min<int64_t>(request.tasks, left) : left);
  array.threads = request.threads > 0 ? request.threads : spec.settings.threads > 0 ? int(spec.settings.threads) : 1;
  array.keep_checkpoints = request.keep_checkpoints;
  array.sbatch_args = sbatch_args;
  const std::string script = sbatch_script(array);
  if (request.dry_run) {
    std::cout << script;
    return 0;
  }
  find_sbatch();   // before anything is written
  SubmissionRollback rollback;
  rollback.out_dir = out_dir;
  rollback.script = slurm.script();
  rollback.out_dir_existed = fs::exists(out_dir);
  rollback.slurm_dir_existed = fs::exists(slurm.dir);
  rollback.script_existed = fs::exists(slurm.script());
  if (rollback.script_existed) {
    std::ifstream in(slurm.script(), std::ios::binary);
    rollback.old_script.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::string job_id;
  try {
    prepare_results_dir(spec, out_dir);   // spec.json, or the check that the directory holds this spec
    fs::create_directories(slurm.logs());  // Slurm does not create the directory of --output
    write_text_atomic(slurm.script(), script);
    fs::permissions(slurm.script(), fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                    fs::perm_options::add);
    // Before the job exists, so no task of it sees the failed variants as finished.
    if (request.retry_failed) rollback.retried = release_for_retry(layout, expansion.variants, {"failed"});
    job_id = submit_batch(slurm.script(), sbatch_args);
  } catch (...) {
    rollback();
    throw;
  }
  const nlohmann::json from = claimant_context();
  nlohmann::ordered_json job;
  job["job_id"] = job_id;
  job["submitted"] = from["since"];
  job["tasks"] = array.tasks;
  job["threads"] = array.threads;
  job["variants_left"] = left;
  job["retried"] = rollback.retried.size();
  job["script"] = slurm.script();
  job["sbatch_args"] = sbatch_args;
  job["submitted_from"] = from;
  try {
    append_record(slurm.jobs(), job);
  } catch (const Error& e) {   // the job runs: say which, so it can be watched and cancelled by hand
    throw Error(fmt::format("Slurm job {} was submitted, but {}", job_id, e.message()), "squeue -j " + job_id);
  }
  std::cout << job_id << "\n";
  std::cerr << fmt::format(
      "sweep {}: submitted Slurm job {}: {} task{} x {} thread{} for {} variant{} without a record{}; logs {}/{}_*.out; "
      "watch it with: t5scale status {}\n",
      spec.name, job_id, array.tasks, array.tasks == 1 ? "" : "s", array.threads, array.threads == 1 ? "" : "s", left,
      left == 1 ? "" : "s",
      rollback.retried.empty() ? "" : fmt::format(" ({} failed moved to {} for retry)", rollback.retried.size(), layout.retried()),
      slurm.logs(), job_id, out_dir);
  return 0;
}

int run_sweep_command(const std::vector<std::string>& args) {
  po::options_description opts(
      "t5scale sweep SPEC [--out results/NAME] [--jobs N] [--retry-failed] [--dry-run]\n"
      "t5scale sweep SPEC --slurm [--tasks N] [--sbatch \"ARGS\"] [--threads T] [--retry-failed] [--dry-run]\n"
      "t5scale sweep SPEC --status\n"
      "exit status: 0 every variant has a record, ok or diverged; 2 some variants failed (the summary is still "
      "printed; fix the cause and rerun with --retry-failed); 130 interrupted (rerun to resume); 1 any other error");
  std::string spec_path, out, sbatch_args;
  double assume_gflops = 0;
  int jobs = 1, threads = 0, worker = 0, slurm_tasks = 0;
  opts.add_options()
      ("spec", po::value<std::string>(&spec_path)->required(), "sweep spec (sweeps/*.json)")
      ("out", po::value<std::string>(&out), "results directory (default results/<spec name>)")
      ("jobs", po::value<int>(&jobs)->default_value(1), "worker processes training variants at once");
  add_threads_option(opts, threads,
                     "threads per worker (default: the spec's 'threads', else the cores divided among the jobs; with "
                     "--slurm: the CPUs of each task, default the spec's 'threads', else 1)");
  opts.add_options()
      ("keep-checkpoints", po::bool_switch(), "keep finished variants' checkpoints (default: removed)")
      ("retry-failed", po::bool_switch(),
       "run the variants whose record says 'failed' again: their records move to runs.retried.jsonl (kept as "
       "history) and each resumes from its checkpoint if it left one (delete checkpoints/<id> to start it at "
       "step 0); a variant another worker is running is left alone. Without it a variant with any record is done")
      ("quiet", po::bool_switch(), "no progress lines on stderr")
      ("worker", po::value<int>(&worker)->default_value(0), "(internal) worker number of a --jobs sweep")
      ("dry-run", po::bool_switch(), "print the variants with params, FLOPs and estimated time; train nothing "
       "(with --slurm: print the batch script; write and submit nothing)")
      ("assume-gflops", po::value<double>(&assume_gflops), "--dry-run: training speed in GFLOP/s for the estimate")
      ("slurm", po::bool_switch(),
       "submit the sweep to Slurm as a job array (results/NAME/slurm/sweep.sbatch) whose every task is one more worker "
       "on the results directory, print the job id and return; a preempted or timed-out task checkpoints its variant "
       "and the next array resumes it; rerun the same command to submit the rest")
      ("tasks", po::value<int>(&slurm_tasks), "--slurm: array tasks (default: one per variant without a record)")
      ("sbatch", po::value<std::string>(&sbatch_args),
       "--slurm: more sbatch options, e.g. \"--partition=cpu --time=02:00:00\" (given to sbatch on its command line)")
      ("status", po::bool_switch(), "print where the sweep stands (as `t5scale status results/NAME`) and return");
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
  const std::string out_dir = out.empty() ? "results/" + spec.name : out;
  const bool slurm = vm["slurm"].as<bool>();
  if (vm["status"].as<bool>()) {
    T5_CHECK(!slurm && !vm["dry-run"].as<bool>() && !retry_failed && !vm.count("tasks") && !vm.count("sbatch"),
             "--status only reads the results directory: it takes no --slurm, --dry-run, --retry-failed, --tasks or "
             "--sbatch");
    return show_sweep_status(out_dir, false);
  }
  for (const char* needs_slurm : {"tasks", "sbatch"})
    T5_CHECK_HINT(slurm || !vm.count(needs_slurm), "add --slurm", "--{} is an option of --slurm", needs_slurm);
  if (slurm) {
    T5_CHECK_HINT(!vm.count("tasks") || slurm_tasks >= 1, "give a whole number of tasks, 1 or more",
                  "--tasks must be at least 1, got {}", slurm_tasks);
    T5_CHECK_HINT(jobs == 1 && worker == 0, "use --tasks N: each task is one worker",
                  "--slurm: --jobs and --worker are for workers on this machine");
    check_output_path("--out", out_dir, OutputKind::directory);
    SlurmRequest request;
    request.out_dir = out_dir;
    request.tasks = slurm_tasks;
    request.threads = threads;
    request.sbatch = sbatch_args;
    request.dry_run = vm["dry-run"].as<bool>();
    request.retry_failed = retry_failed;
    request.keep_checkpoints = vm["keep-checkpoints"].as<bool>();
    return submit_to_slurm(spec, spec_path, expansion, request);
  }
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
  options.out_dir = out_dir;
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
