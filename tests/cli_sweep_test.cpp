// The sweep and report subcommands as a user runs them (tests/cli_runner.h: stdout and stderr apart):
// --dry-run's table, one-line errors naming the spec file and key with exit code 1, --retry-failed,
// Ctrl-C / SIGTERM of a running sweep (also with --jobs), and report on the stored fixture.
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli_runner.h"

namespace t5 {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::CommandResult;
using testing::t5scale;

TEST(CliSweep, DryRunListsVariantsWithExactCounts) {
  const testing::ScratchDir scratch("t5scale_cli_dry");
  const std::string spec = scratch.write("dry.json", R"({"name": "d", "base": "tiny", "grid": {"nl": [0, 2, 4]},
      "budget": {"steps": 10}, "batch": 8, "inputs_length": 64, "targets_length": 14,
      "data": {"source": "synthetic"}})");
  const CommandResult r = t5scale(fmt::format("sweep {} --dry-run --assume-gflops 100", spec));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("sweep d: 2 variants (1 skipped)"));
  EXPECT_THAT(r.out, HasSubstr("tiny-nl2-s0"));
  // tiny-nl2 by hand (SPEC §2, §3; dm = inner = 256, ff 1024, V 32128; 64 / 14, batch 8):
  //   params 32128*256 + 2*786,944 + 2*1,049,344 + 2*32*4 + 2*256 = 11,898,112;
  //   forward per example: encoder 2*(2*64*4*256^2 + 4*64^2*256 + 2*64*2*256*1024) = 2*104,857,600;
  //   decoder 2*(2*14*4*256^2 + 4*14^2*256 + 2*14*2*256^2 + 2*64*2*256^2 + 4*14*64*256 + 2*14*2*256*1024)
  //   = 2*43,585,536; lm head 2*14*256*32128 = 230,293,504; total 527,179,776; x3 x8 = 12,652,314,624
  //   per step (12.65G), x10 steps = 126,523,146,240 (126.52G).
  EXPECT_THAT(r.out, HasSubstr(" 11,898,112     12.65G     10    126.52G "));
  EXPECT_THAT(r.out, HasSubstr("skipped tiny-nl0-s0: nl must be positive, got 0"));
}

// Ids longer than the default 30-character column (a knob'd base plus grid knobs) keep the table's
// columns aligned: every row's el value sits under the header's "el".
TEST(CliSweep, DryRunColumnsStayAlignedForLongIds) {
  const testing::ScratchDir scratch("t5scale_cli_dry_wide");
  const std::string spec = scratch.write("wide.json", R"({"name": "w", "base": "tiny-dm128-ff512-kv32",
      "grid": {"dm": [64], "nh": [3, 12]}, "budget": {"steps": 10}, "batch": 8, "inputs_length": 64,
      "targets_length": 14, "data": {"source": "synthetic"}})");
  const CommandResult r = t5scale(fmt::format("sweep {} --dry-run --assume-gflops 100", spec));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream in(r.out);
  std::string line, header;
  std::vector<std::string> rows;
  while (std::getline(in, line)) {
    if (line.rfind("id ", 0) == 0) header = line;
    if (line.rfind("tiny-", 0) == 0) rows.push_back(line);
  }
  ASSERT_EQ(rows.size(), 2u) << r.out;
  const size_t el_end = header.find(" el ") + 3;   // one past the right edge of the right-aligned el column
  ASSERT_NE(header.find(" el "), std::string::npos) << header;
  EXPECT_EQ(rows[1].substr(0, 34), "tiny-dm128-ff512-kv32-dm64-nh12-s0");
  for (const std::string& row : rows) {
    EXPECT_EQ(row.substr(el_end - 3, 3), "  4") << row << "\n" << header;   // el 4 (tiny's depth) under "el"
    EXPECT_EQ(row.size(), header.size()) << row << "\n" << header;
  }
}

TEST(CliSweep, BadSpecIsOneLineNamingFileAndKey) {
  const testing::ScratchDir scratch("t5scale_cli_bad");
  const std::string spec = scratch.write("bad.json", R"({"name": "d", "base": "tiny", "grid": {"nl": [2]},
      "budget": {"steps": 10}, "batch": 8, "inputs_length": 64, "targets_length": 14, "lr": -1,
      "data": {"source": "synthetic"}})");
  const CommandResult r = t5scale(fmt::format("sweep {} --dry-run", spec));
  testing::expect_one_line_error(r, "sweep", "key 'lr'");
  EXPECT_EQ(r.err, fmt::format("t5scale sweep: error: {}: key 'lr' must be greater than 0, got -1\n", spec));
}

// --dry-run is where a study is checked before it is run (experiments/README.md): it fails, as the
// run would, on what needs no file (targets_length against span corruption, bad option values), and
// still estimates a spec whose corpus is not prepared yet.
TEST(CliSweep, DryRunChecksWhatTheRunWouldWithoutTheCorpus) {
  const testing::ScratchDir scratch("t5scale_cli_dry_checks");
  const std::string spec_text = R"({"name": "d", "base": "tiny", "grid": {"nl": [1]}, "budget": {"steps": 10},
      "batch": 8, "inputs_length": 64, "targets_length": TARGETS, "data": {"corpus": "/nonexistent/corpus",
      "tokenizer": "/nonexistent/corpus/spiece.model"}})";
  const auto spec_with = [&](const std::string& targets) {
    std::string text = spec_text;
    text.replace(text.find("TARGETS"), 7, targets);
    return scratch.write("t" + targets + ".json", text);
  };
  const std::string wrong = spec_with("20");
  testing::expect_one_line_error(t5scale(fmt::format("sweep {} --dry-run --assume-gflops 100", wrong)), "sweep",
                                 wrong + ": key 'targets_length': span corruption of 64 input tokens (noise density "
                                         "0.15, mean span 3) makes targets of 14 tokens, not 20 (hint: set \"targets_length\": 14)");
  const std::string right = spec_with("14");
  const CommandResult ok = t5scale(fmt::format("sweep {} --dry-run --assume-gflops 100", right));
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("sweep d: 1 variants (0 skipped)"));
  for (const char* rate : {"-5", "0"})
    testing::expect_one_line_error(t5scale(fmt::format("sweep {} --dry-run --assume-gflops {}", right, rate)), "sweep",
                                   fmt::format("--assume-gflops must be a finite positive number, got {}", rate));
  testing::expect_one_line_error(t5scale(fmt::format("sweep {} --dry-run --assume-gflops 100 --jobs 0", right)),
                                 "sweep", "--jobs must be at least 1, got 0");
}

// Another spec on a results directory is refused naming the first key that differs, so the user sees
// what changed (a grid, a budget) instead of comparing two files by hand. Nothing is trained.
TEST(CliSweep, DifferentSpecOnTheDirectoryNamesTheKey) {
  const testing::ScratchDir scratch("t5scale_cli_spec_differs");
  const std::string text = R"({"name": "d", "base": "tiny-nl1", "grid": {"dm": [64]}, "budget": {"steps": STEPS},
      "batch": 2, "inputs_length": 8, "targets_length": 4, "data": {"source": "synthetic"}})";
  const auto with_steps = [&](const std::string& steps) {
    std::string t = text;
    return t.replace(t.find("STEPS"), 5, steps);
  };
  fs::create_directories(scratch.path("out"));
  std::ofstream(scratch.path("out/spec.json")) << nlohmann::json::parse(with_steps("3")).dump(2) << "\n";
  const std::string spec = scratch.write("spec.json", with_steps("5"));
  testing::expect_one_line_error(
      t5scale(fmt::format("sweep {} --out {} --quiet", spec, scratch.path("out"))), "sweep",
      scratch.path("out/spec.json") + ": holds a different sweep spec than " + spec +
          " (key 'budget.steps' differs) (hint: resume with the same spec, or pass a new --out directory)");
  EXPECT_FALSE(fs::exists(scratch.path("out/runs.jsonl")));
}

TEST(CliSweep, ShippedSpecsParse) {
  for (const auto& entry : fs::directory_iterator(std::string(T5SCALE_SOURCE_DIR) + "/sweeps")) {
    if (entry.path().extension() != ".json") continue;
    const CommandResult r = t5scale(fmt::format("sweep {} --dry-run --assume-gflops 100", entry.path().string()));
    EXPECT_EQ(r.exit_code, 0) << entry.path() << ": " << r.err;
    EXPECT_THAT(r.out, ::testing::Not(HasSubstr("\nskipped "))) << entry.path();
  }
}

// A variant whose steps log cannot be written (a directory in its place) fails; once the cause is
// gone, a plain rerun leaves it failed and --retry-failed runs it again, keeping the old record. While
// a variant is failed the sweep exits 2 with its summary on stdout and one line naming it on stderr.
TEST(CliSweep, RetryFailedRunsTheFailedVariantAgain) {
  const testing::ScratchDir scratch("t5scale_cli_retry");
  const std::string spec = scratch.write("retry.json", R"({"name": "retry", "base": "tiny-dm32-ff64-nh2-kv16",
      "grid": {"nl": [1, 2]}, "budget": {"steps": 4}, "batch": 2, "inputs_length": 8, "targets_length": 4,
      "threads": 1, "data": {"source": "synthetic"}})");
  const std::string out = scratch.path("out"), x = "tiny-dm32-ff64-nh2-kv16-nl2-s0";
  const std::string sweep = fmt::format("sweep {} --out {}", spec, out);
  const std::string in_the_way = out + "/steps/" + x + ".jsonl";
  fs::create_directories(in_the_way);

  const std::string failed_message = fmt::format(
      "sweep: 1 of 2 variants failed ({}); their records in {}/runs.jsonl say why; fix the cause and rerun with "
      "--retry-failed\n", x, out);
  CommandResult r = t5scale(sweep);
  ASSERT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(r.err.ends_with(failed_message)) << r.err;
  nlohmann::json summary = nlohmann::json::parse(r.out);
  EXPECT_EQ(summary["failed"], 1);
  EXPECT_EQ(summary["failed_variants"], nlohmann::json::array({x}));
  EXPECT_EQ(summary["ok"], 1);
  std::string failed_line;
  {
    std::ifstream in(out + "/runs.jsonl");
    for (std::string line; std::getline(in, line);)
      if (line.find(x) != std::string::npos) failed_line = line;
  }
  ASSERT_THAT(failed_line, HasSubstr(R"("status":"failed")"));
  fs::remove(in_the_way);

  r = t5scale(sweep);   // without the flag a failed variant is done
  ASSERT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(r.err.ends_with(failed_message)) << r.err;
  summary = nlohmann::json::parse(r.out);
  EXPECT_EQ(summary["ran_in_this_process"], 0);
  EXPECT_EQ(summary["failed"], 1);
  EXPECT_EQ(summary["retried"], 0);

  r = t5scale(sweep + " --retry-failed");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("sweep retry: 1 failed record(s) moved to " + out + "/runs.retried.jsonl for retry"));
  summary = nlohmann::json::parse(r.out);
  EXPECT_EQ(summary["retried"], 1);
  EXPECT_EQ(summary["ran_in_this_process"], 1);
  EXPECT_EQ(summary["ok"], 2);
  EXPECT_EQ(summary["failed"], 0);
  EXPECT_EQ(summary["failed_variants"], nlohmann::json::array());
  EXPECT_EQ(summary["finished"], 2);
  EXPECT_EQ(testing::slurp(out + "/runs.retried.jsonl"), failed_line + "\n");
  const std::string runs = testing::slurp(out + "/runs.jsonl");
  EXPECT_EQ(testing::lines(runs), 2);
  EXPECT_THAT(runs, HasSubstr("tiny-dm32-ff64-nh2-kv16-nl1-s0"));
  EXPECT_THAT(runs, HasSubstr(x));
  EXPECT_THAT(runs, ::testing::Not(HasSubstr(R"("status":"failed")")));
  // Nothing left to retry: said so, and runs.retried.jsonl is not named as if something moved there.
  r = t5scale(sweep + " --retry-failed");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("sweep retry: no failed records to retry"));
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("moved to")));

  // report still reads runs.jsonl only.
  r = t5scale(fmt::format("report {} --summary", out));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(x));
}

int64_t checkpoint_step(const std::string& dir) {
  return nlohmann::json::parse(std::ifstream(dir + "/state.json")).at("step").get<int64_t>();
}

// No process holds the variant's claim (a worker still running would).
bool claim_free(const std::string& out, const std::string& id) {
  const int fd = ::open((out + "/locks/" + id + ".lock").c_str(), O_RDWR);
  if (fd < 0) return true;
  const bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  ::close(fd);
  return free;
}

// A sweep spec of 300 steps (a few seconds) checkpointed only at its end, so any checkpoint before
// that is the interrupt's.
std::string write_long_spec(const testing::ScratchDir& scratch, const std::string& nl) {
  return scratch.write("long.json", fmt::format(R"({{"name": "long", "base": "tiny-dm64-ff128-nh2-kv32",
      "grid": {{"nl": [{}]}}, "budget": {{"steps": 300}}, "batch": 4, "inputs_length": 16, "targets_length": 16,
      "checkpoint_every": 300, "threads": 1, "data": {{"source": "synthetic"}}}})", nl));
}

// Ctrl-C (SIGINT) once the steps log shows steps: exit 130 with one line on stderr, no record, the
// checkpoint at the last logged step (not lost back to 0); rerunning the same command resumes there
// and ends with the eval loss of a sweep never interrupted.
TEST(CliSweep, CtrlCCheckpointsTheLastStepAndTheRerunResumes) {
  const testing::ScratchDir scratch("t5scale_cli_ctrlc");
  const std::string spec = write_long_spec(scratch, "1");
  const std::string out = scratch.path("out"), clean = scratch.path("clean"), id = "tiny-dm64-ff128-nh2-kv32-nl1-s0";
  const std::string steps = out + "/steps/" + id + ".jsonl";
  testing::RunningCommand sweep({"sweep", spec, "--out", out, "--quiet"});
  ASSERT_TRUE(testing::wait_for_steps({steps}));
  ASSERT_EQ(::kill(sweep.pid(), SIGINT), 0);
  const CommandResult r = sweep.wait();
  EXPECT_EQ(r.exit_code, 130) << r.err;
  const int64_t n = testing::last_logged_step(steps);
  ASSERT_GT(n, 0);
  ASSERT_LT(n, 300) << "the sweep finished before the signal: make it longer";
  EXPECT_EQ(r.err, fmt::format("sweep: interrupted at step {} of {}; rerun the same command to resume\n", n, id));
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(testing::slurp(out + "/runs.jsonl"), "");
  EXPECT_EQ(checkpoint_step(out + "/checkpoints/" + id), n);

  CommandResult again = t5scale(fmt::format("sweep {} --out {} --quiet", spec, out));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  CommandResult straight = t5scale(fmt::format("sweep {} --out {} --quiet", spec, clean));
  ASSERT_EQ(straight.exit_code, 0) << straight.err;
  const nlohmann::json got = nlohmann::json::parse(testing::slurp(out + "/runs.jsonl"));
  const nlohmann::json want = nlohmann::json::parse(testing::slurp(clean + "/runs.jsonl"));
  EXPECT_EQ(got["context"]["resumed_from_step"], n);
  EXPECT_EQ(got["quality"]["eval_loss"].get<double>(), want["quality"]["eval_loss"].get<double>());
  EXPECT_EQ(got["quality"]["final_train_loss"], want["quality"]["final_train_loss"]);
}

// sweep --jobs 2, SIGTERM to the first process only: it passes the request on to its worker, both
// checkpoint their variant at its last logged step, the first waits for the worker (whose claim is
// free when the command returns) and exits 130; each process says where it stopped.
TEST(CliSweep, InterruptReachesTheJobsWorkers) {
  const testing::ScratchDir scratch("t5scale_cli_ctrlc_jobs");
  const std::string spec = write_long_spec(scratch, "1, 2");
  const std::string out = scratch.path("out");
  const std::vector<std::string> ids = {"tiny-dm64-ff128-nh2-kv32-nl1-s0", "tiny-dm64-ff128-nh2-kv32-nl2-s0"};
  testing::RunningCommand sweep({"sweep", spec, "--out", out, "--quiet", "--jobs", "2", "--threads", "1"});
  ASSERT_TRUE(testing::wait_for_steps({out + "/steps/" + ids[0] + ".jsonl", out + "/steps/" + ids[1] + ".jsonl"}));
  ASSERT_EQ(::kill(sweep.pid(), SIGTERM), 0);
  const CommandResult r = sweep.wait();
  EXPECT_EQ(r.exit_code, 130) << r.err;
  EXPECT_EQ(testing::slurp(out + "/runs.jsonl"), "");
  EXPECT_EQ(testing::lines(r.err), 2) << r.err;
  for (const std::string& id : ids) {
    const int64_t n = testing::last_logged_step(out + "/steps/" + id + ".jsonl");
    ASSERT_GT(n, 0);
    ASSERT_LT(n, 300) << id << " finished before the signal: make it longer";
    EXPECT_EQ(checkpoint_step(out + "/checkpoints/" + id), n) << id;
    EXPECT_THAT(r.err, HasSubstr(fmt::format("sweep: interrupted at step {} of {}; rerun", n, id)));
    EXPECT_TRUE(claim_free(out, id)) << id;
  }
}

// The child process of `parent` (its parent pid in /proc/PID/stat): a --jobs sweep's worker; 0 if none.
pid_t child_process(pid_t parent) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = testing::slurp(entry.path() / "stat");
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 2));
    std::string state;
    pid_t ppid = 0;
    fields >> state >> ppid;
    if (ppid == parent) return pid_t(std::stoi(name));
  }
  return 0;
}

// sweep --jobs 2 over write_long_spec's nl 1 and nl 2, started and waited for until both variants
// have logged a step: the first process and its worker (0 if not found).
struct JobsSweep {
  explicit JobsSweep(const testing::ScratchDir& scratch)
      : out(scratch.path("out")),
        sweep(std::make_unique<testing::RunningCommand>(std::vector<std::string>{
            "sweep", write_long_spec(scratch, "1, 2"), "--out", out, "--jobs", "2", "--threads", "1"})) {
    if (testing::wait_for_steps({out + "/steps/" + ids[0] + ".jsonl", out + "/steps/" + ids[1] + ".jsonl"}))
      worker = child_process(sweep->pid());
  }
  const std::vector<std::string> ids = {"tiny-dm64-ff128-nh2-kv32-nl1-s0", "tiny-dm64-ff128-nh2-kv32-nl2-s0"};
  const std::string out;
  std::unique_ptr<testing::RunningCommand> sweep;
  pid_t worker = 0;
};

// The first process's summary line of a JobsSweep that ended complete, both variants run by it (one
// after taking it over from the worker).
void expect_all_ran_here(const std::string& out) {
  const nlohmann::json summary = nlohmann::json::parse(out);
  EXPECT_EQ(summary["finished"], 2);
  EXPECT_EQ(summary["ok"], 2);
  EXPECT_EQ(summary["ran_in_this_process"], 2);
}

// SIGTERM to the --jobs worker alone: it checkpoints and gives its variant back; the first process
// takes it over after its own (resuming from that checkpoint) and the sweep ends complete, exit 0.
TEST(CliSweep, WorkerInterruptedAloneLeavesItsVariantToTheFirstProcess) {
  const testing::ScratchDir scratch("t5scale_cli_ctrlc_worker");
  const JobsSweep jobs(scratch);
  ASSERT_GT(jobs.worker, 0);
  ASSERT_EQ(::kill(jobs.worker, SIGTERM), 0);
  const CommandResult r = jobs.sweep->wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("[worker 1] sweep: interrupted at step "));
  expect_all_ran_here(r.out);
  EXPECT_THAT(r.err, HasSubstr("(resumed at "));
}

// kill -9 of the --jobs worker after the first process has run out of variants to claim (it waits
// for the worker): the first process says which worker died and how, takes over the variant the
// worker left without a record and the sweep ends complete, exit 0, one record per variant and one
// steps-log line per step. (It exited 1 with 'worker process(es) stopped with an error (see above)'
// and nothing above, the killed worker's variant left to a rerun.)
TEST(CliSweep, WorkerKilledAfterTheFirstRanOutOfWorkIsTakenOver) {
  const testing::ScratchDir scratch("t5scale_cli_kill_worker");
  const JobsSweep jobs(scratch);
  const std::string& out = jobs.out;
  const pid_t worker = jobs.worker;
  ASSERT_GT(worker, 0);
  // Frozen, the worker keeps its claim while the first process finishes its own variant and finds
  // nothing left to claim.
  ASSERT_EQ(::kill(worker, SIGSTOP), 0);
  for (int i = 0; i < 3000 && testing::lines(testing::slurp(out + "/runs.jsonl")) < 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(testing::lines(testing::slurp(out + "/runs.jsonl")), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(::kill(worker, SIGKILL), 0);
  const CommandResult r = jobs.sweep->wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr(fmt::format("sweep: worker 1 (pid {}) was killed by SIGKILL; taking over its variant\n",
                                           worker)));
  expect_all_ran_here(r.out);
  EXPECT_EQ(testing::lines(testing::slurp(out + "/runs.jsonl")), 2);
  for (const std::string& id : jobs.ids) {
    std::ifstream log(out + "/steps/" + id + ".jsonl");
    int64_t expected = 1;
    for (std::string line; std::getline(log, line);) {
      const nlohmann::json j = nlohmann::json::parse(line);
      if (j["type"] != "step") continue;
      EXPECT_EQ(j["step"].get<int64_t>(), expected++) << id;
    }
    EXPECT_EQ(expected, 301) << id;
  }
}

// The results directory's spec.json damaged (empty, cut short): one line naming it with the line and
// column, not 'holds a different sweep spec than SPEC', which sent the user looking for a change.
TEST(CliSweep, DamagedSpecCopyInResultsIsNamedAsDamaged) {
  const testing::ScratchDir scratch("t5scale_cli_damaged_spec");
  const std::string spec = write_long_spec(scratch, "1");
  const std::string out = scratch.path("out");
  fs::create_directories(out);
  std::ofstream(out + "/spec.json") << "{\"name\": \"lo";
  const CommandResult r = t5scale(fmt::format("sweep {} --out {} --quiet", spec, out));
  testing::expect_one_line_error(r, "sweep", out + "/spec.json:1:13: invalid JSON: ");
  EXPECT_THAT(r.err, HasSubstr("(hint: the results directory's copy of the spec was damaged"));
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("different")));
}

TEST(CliSweep, RetryFailedWithDryRunIsOneLine) {
  const testing::ScratchDir scratch("t5scale_cli_retry_bad");
  const std::string spec = scratch.write("d.json", R"({"name": "d", "base": "tiny", "grid": {"nl": [2]},
      "budget": {"steps": 10}, "batch": 8, "inputs_length": 64, "targets_length": 14,
      "data": {"source": "synthetic"}})");
  testing::expect_one_line_error(t5scale(fmt::format("sweep {} --dry-run --retry-failed", spec)), "sweep",
                                 "--retry-failed moves records and --dry-run trains nothing");
  testing::expect_one_line_error(t5scale(fmt::format("sweep {} --retry-failed --worker 1", spec)), "sweep",
                                 "--retry-failed is for the first worker only");
}

TEST(CliReport, WritesFilesAndListsThem) {
  const testing::ScratchDir scratch("t5scale_cli_report");
  const std::string out = scratch.path("report");
  const CommandResult r =
      t5scale(fmt::format("report {}/tests/fixtures/results/depth-fixture --out {} --no-plots", T5SCALE_SOURCE_DIR, out));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(out + "/report.md"));
  EXPECT_THAT(r.err, HasSubstr("warning: 1 torn line (6) of "));
  EXPECT_TRUE(fs::exists(out + "/frontier_step_time.json"));
}

// A record whose fields have the wrong JSON type (a hand edit, another tool's line) is one line naming
// the file, its line and the key, for report and report --summary alike, and nothing is written.
TEST(CliReport, RecordOfTheWrongFormNamesLineAndKey) {
  const testing::ScratchDir scratch("t5scale_cli_report_form");
  const std::string fixture = std::string(T5SCALE_SOURCE_DIR) + "/tests/fixtures/results/readme-depth";
  std::ifstream in(fixture + "/runs.jsonl");
  std::string first, second;
  std::getline(in, first);
  std::getline(in, second);
  nlohmann::json bad = nlohmann::json::parse(second);
  const auto write_runs = [&](const nlohmann::json& record) {
    fs::create_directories(scratch.path("r"));
    std::ofstream(scratch.path("r/runs.jsonl")) << first << "\n" << record.dump() << "\n";
  };
  const std::string runs = scratch.path("r/runs.jsonl");
  bad["id"] = 3;
  write_runs(bad);
  for (const char* summary : {"", " --summary"})
    testing::expect_one_line_error(t5scale(fmt::format("report {}{} --no-plots", scratch.path("r"), summary)), "report",
                                   runs + ":2: key 'id' must be a string, got 3 (hint: ");
  bad = nlohmann::json::parse(second);
  bad["budget"]["steps"] = "120";
  write_runs(bad);
  testing::expect_one_line_error(t5scale(fmt::format("report {} --no-plots", scratch.path("r"))), "report",
                                 runs + ":2: key 'budget.steps' must be an integer, got \"120\"");
  bad = nlohmann::json::parse(second);
  bad["quality"] = 5.0;
  write_runs(bad);
  testing::expect_one_line_error(t5scale(fmt::format("report {} --no-plots", scratch.path("r"))), "report",
                                 runs + ":2: key 'quality' must be an object, got 5.0");
  EXPECT_FALSE(fs::exists(scratch.path("r/report.md")));
  // A mistyped directory says so, rather than that it holds no records.
  for (const char* summary : {"", " --summary"})
    testing::expect_one_line_error(t5scale(fmt::format("report {}{}", scratch.path("typo"), summary)), "report",
                                   scratch.path("typo") + ": no such directory (hint: ");
  // The fixture itself passes the check.
  EXPECT_EQ(t5scale(fmt::format("report {} --summary", fixture)).exit_code, 0);
}

}  // namespace
}  // namespace t5
