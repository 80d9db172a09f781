// `sweep --slurm`, `sweep --status` and `status` as a user runs them, with stand-in sbatch, squeue and
// scontrol scripts on PATH (the real Slurm runs in tests/slurm/run_slurm_test.sh): the batch script
// --dry-run prints (and that it runs the sweep as a worker whose records carry the Slurm job), the
// submission and what it records, bad input as one line with nothing written (no sbatch on PATH,
// sbatch failing, bad --tasks or --sbatch), --retry-failed around a submission, and status's counts,
// Slurm task states and ETA against hand-worked values.
#include <filesystem>
#include <fstream>
#include <string>
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
using nlohmann::json;
using ::testing::HasSubstr;
using testing::CommandResult;
using testing::t5scale;
using testing::t5scale_under;

// Two tiny variants of 4 steps on synthetic data (a fraction of a second each).
constexpr const char* kTwoVariants = R"({"name": "tiny2", "base": "tiny-dm32-ff64-nh2-kv16", "grid": {"nl": [1, 2]},
    "budget": {"steps": 4}, "batch": 2, "inputs_length": 8, "targets_length": 4, "threads": 1,
    "data": {"source": "synthetic"}})";
const std::vector<std::string> kIds = {"tiny-dm32-ff64-nh2-kv16-nl1-s0", "tiny-dm32-ff64-nh2-kv16-nl2-s0"};

// A directory of stand-in Slurm commands, first on PATH for the commands run with `env()` as prefix.
struct FakeSlurm {
  explicit FakeSlurm(const testing::ScratchDir& scratch) : bin(scratch.path("bin")) { fs::create_directories(bin); }
  // An executable shell script named `name` in bin.
  void add(const std::string& name, const std::string& body) const {
    const std::string path = bin + "/" + name;
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::add);
  }
  // The environment prefix: bin alone on PATH (a real Slurm in /usr/bin is not seen; the scripts name
  // the programs they use by full path).
  std::string env() const { return fmt::format("PATH={}", bin); }
  std::string bin;
};

std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

// What --dry-run prints: the whole script, every line that matters checked; nothing is written.
TEST(CliSlurm, DryRunPrintsTheBatchScriptAndWritesNothing) {
  const testing::ScratchDir scratch("t5scale_slurm_dry");
  const std::string spec = scratch.write("s.json", kTwoVariants), out = scratch.path("out");
  const CommandResult r = t5scale(
      fmt::format("sweep {} --out {} --slurm --dry-run --sbatch \"--time=00:30:00 --comment='two words'\"", spec, out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_THAT(r.out, ::testing::StartsWith("#!/bin/bash\n"));
  for (const std::string& line :
       {std::string("#SBATCH --job-name=t5scale-tiny2"), std::string("#SBATCH --array=0-1"),  // one task per variant
        std::string("#SBATCH --ntasks=1"), std::string("#SBATCH --cpus-per-task=1"),           // the spec's threads
        "#SBATCH --chdir=" + fs::current_path().string(), "#SBATCH --output=" + out + "/slurm/logs/%A_%a.out",
        std::string("#SBATCH --open-mode=append"), std::string("#SBATCH --signal=B:TERM@120"),
        std::string("#SBATCH --requeue"),
        "# Submitted as: sbatch --parsable --time=00:30:00 '--comment=two words' " + out + "/slurm/sweep.sbatch",
        fmt::format("exec {} sweep {} --out {} --threads \"${{SLURM_CPUS_PER_TASK:-1}}\"",
                    fs::canonical(T5SCALE_BINARY).string(), spec, out)})
    EXPECT_THAT(r.out, HasSubstr("\n" + line + "\n")) << r.out;
  // --tasks above the variants left is cut to them; --threads sets the CPUs of a task.
  const CommandResult more =
      t5scale(fmt::format("sweep {} --out {} --slurm --dry-run --tasks 7 --threads 3", spec, out));
  ASSERT_EQ(more.exit_code, 0) << more.err;
  EXPECT_THAT(more.out, HasSubstr("\n#SBATCH --array=0-1\n#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=3\n"));
  EXPECT_THAT(more.out, HasSubstr("--threads \"${SLURM_CPUS_PER_TASK:-3}\"\n"));
}

// The script --dry-run prints, run by bash as Slurm would run a task (its variables set by hand): the
// task is a worker of the sweep, and every record names the job and task it ran in, and the host.
TEST(CliSlurm, TheScriptRunsTheSweepAndRecordsTheSlurmTask) {
  const testing::ScratchDir scratch("t5scale_slurm_script");
  const std::string spec = scratch.write("s.json", kTwoVariants), out = scratch.path("out");
  const CommandResult dry = t5scale(fmt::format("sweep {} --out {} --slurm --dry-run", spec, out));
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  const std::string script = scratch.write("task.sh", dry.out);
  const std::string cmd = fmt::format(
      "SLURM_JOB_ID=78 SLURM_ARRAY_JOB_ID=77 SLURM_ARRAY_TASK_ID=1 SLURM_CPUS_PER_TASK=1 SLURM_CLUSTER_NAME=c1 "
      "SLURMD_NODENAME=n7 bash {} >{} 2>&1",
      script, scratch.path("task.log"));
  ASSERT_EQ(std::system(cmd.c_str()), 0) << testing::slurp(scratch.path("task.log"));
  const std::vector<json> records = read_jsonl(out + "/runs.jsonl");
  ASSERT_EQ(records.size(), 2u);
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  for (const json& r : records) {
    EXPECT_EQ(r["status"], "ok");
    EXPECT_EQ(r["context"]["slurm"], json({{"job_id", "78"}, {"array_job_id", "77"}, {"array_task_id", 1},
                                           {"task", "77_1"}, {"cluster", "c1"}, {"node", "n7"}}));
    EXPECT_EQ(r["context"]["host"], host);
    EXPECT_EQ(r["context"]["threads"], 1);
  }
  // Outside Slurm a record has no "slurm" key at all.
  const CommandResult local = t5scale(fmt::format("sweep {} --out {} --quiet", spec, scratch.path("local")));
  ASSERT_EQ(local.exit_code, 0) << local.err;
  for (const json& r : read_jsonl(scratch.path("local") + "/runs.jsonl")) EXPECT_FALSE(r["context"].contains("slurm"));
}

// A submission: sbatch gets --parsable, the --sbatch words and the script; the job id is stdout's only
// line; jobs.jsonl records it; the script on disk is what --dry-run prints.
TEST(CliSlurm, SubmitsWithSbatchAndRecordsTheJob) {
  const testing::ScratchDir scratch("t5scale_slurm_submit");
  const FakeSlurm slurm(scratch);
  slurm.add("sbatch", fmt::format("for a in \"$@\"; do echo \"$a\"; done > {}\necho '4242;cluster1'",
                                  scratch.path("sbatch.args")));
  const std::string spec = scratch.write("s.json", kTwoVariants), out = scratch.path("out");
  const std::string args = fmt::format("sweep {} --out {} --slurm --tasks 1 --sbatch \"-p cpu --time=5\"", spec, out);
  const CommandResult r = t5scale_under(slurm.env(), args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "4242\n");
  EXPECT_THAT(r.err, HasSubstr("sweep tiny2: submitted Slurm job 4242: 1 task x 1 thread for 2 variants without a "
                               "record; logs " + out + "/slurm/logs/4242_*.out; watch it with: t5scale status " + out));
  const std::string script = out + "/slurm/sweep.sbatch";
  EXPECT_EQ(testing::slurp(scratch.path("sbatch.args")), "--parsable\n-p\ncpu\n--time=5\n" + script + "\n");
  EXPECT_TRUE(fs::is_directory(out + "/slurm/logs"));
  EXPECT_TRUE(fs::exists(out + "/spec.json"));
  const CommandResult dry = t5scale(args + " --dry-run");
  EXPECT_EQ(testing::slurp(script), dry.out);
  const std::vector<json> jobs = read_jsonl(out + "/slurm/jobs.jsonl");
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0]["job_id"], "4242");
  EXPECT_EQ(jobs[0]["tasks"], 1);
  EXPECT_EQ(jobs[0]["threads"], 1);
  EXPECT_EQ(jobs[0]["variants_left"], 2);
  EXPECT_EQ(jobs[0]["sbatch_args"], json({"-p", "cpu", "--time=5"}));
  EXPECT_EQ(jobs[0]["script"], script);
}

// No sbatch on PATH, sbatch failing, sbatch printing no job id: one line each, exit 1, nothing written
// (not the results directory, not a script, not a job line).
TEST(CliSlurm, SubmissionFailuresAreOneLineAndWriteNothing) {
  const testing::ScratchDir scratch("t5scale_slurm_fail");
  const FakeSlurm slurm(scratch);
  const std::string spec = scratch.write("s.json", kTwoVariants), out = scratch.path("out");
  const std::string args = fmt::format("sweep {} --out {} --slurm", spec, out);
  testing::expect_one_line_error(t5scale_under(slurm.env(), args), "sweep",
                                 "--slurm: sbatch not found on PATH (hint: submit from a Slurm login node, or install "
                                 "slurm-client)");
  EXPECT_FALSE(fs::exists(out));
  slurm.add("sbatch", "echo 'sbatch: error: Batch job submission failed: Invalid partition name specified' >&2\nexit 1");
  testing::expect_one_line_error(
      t5scale_under(slurm.env(), args), "sweep",
      "--slurm: sbatch failed (exit 1): sbatch: error: Batch job submission failed: Invalid partition name specified");
  EXPECT_FALSE(fs::exists(out));
  slurm.add("sbatch", "echo 'Submitted batch job 12'");   // without --parsable's form
  testing::expect_one_line_error(t5scale_under(slurm.env(), args), "sweep",
                                 "--slurm: sbatch printed no job id (stdout 'Submitted batch job 12')");
  EXPECT_FALSE(fs::exists(out));
  // A directory that was there keeps what it had, and gains no slurm/ directory.
  fs::create_directories(out);
  std::ofstream(out + "/notes.txt") << "mine\n";
  testing::expect_one_line_error(t5scale_under(slurm.env(), args), "sweep", "--slurm: sbatch printed no job id");
  EXPECT_EQ(testing::slurp(out + "/notes.txt"), "mine\n");
  EXPECT_FALSE(fs::exists(out + "/slurm"));
}

TEST(CliSlurm, BadOptionsAreOneLine) {
  const testing::ScratchDir scratch("t5scale_slurm_bad");
  const std::string spec = scratch.write("s.json", kTwoVariants);
  const auto run = [&](const std::string& extra) { return t5scale(fmt::format("sweep {} {}", spec, extra)); };
  testing::expect_one_line_error(run("--slurm --tasks 0"), "sweep", "--tasks must be at least 1, got 0");
  testing::expect_one_line_error(run("--slurm --tasks -3"), "sweep", "--tasks must be at least 1, got -3");
  testing::expect_one_line_error(run("--slurm --tasks two"), "sweep", "tasks");
  testing::expect_one_line_error(run("--tasks 2"), "sweep", "--tasks is an option of --slurm (hint: add --slurm)");
  testing::expect_one_line_error(run("--sbatch -p"), "sweep", "--sbatch is an option of --slurm");
  testing::expect_one_line_error(run("--slurm --jobs 2"), "sweep", "--slurm: --jobs and --worker are for workers on this "
                                                                   "machine (hint: use --tasks N: each task is one worker)");
  testing::expect_one_line_error(run("--slurm --sbatch \"--array=0-9%2\""), "sweep",
                                 "--sbatch: '--array=0-9%2': the script sets the array itself (hint: use --tasks N");
  testing::expect_one_line_error(run("--slurm --sbatch \"-a 3\""), "sweep", "--sbatch: '-a': the script sets the array");
  testing::expect_one_line_error(run("--slurm --sbatch \"--wrap=true\""), "sweep", "--sbatch: '--wrap=true'");
  testing::expect_one_line_error(run("--slurm --sbatch \"--comment='open\""), "sweep",
                                 "--sbatch: unbalanced single quote in '--comment='open'");
  testing::expect_one_line_error(run("--status --slurm"), "sweep", "--status only reads the results directory");
  testing::expect_one_line_error(run("--slurm --dry-run --retry-failed"), "sweep", "--retry-failed moves records");
  testing::expect_one_line_error(
      run(fmt::format("--slurm --dry-run --out '{}'", scratch.path("with space"))), "sweep",
      "--slurm: the results directory '" + scratch.path("with space") + "/slurm/logs' holds whitespace or a quote");
}

// A failed record, --slurm --retry-failed: the record moves to runs.retried.jsonl before sbatch runs
// (so no task of the job takes the variant for finished); when sbatch fails it comes back, byte for
// byte, and nothing else stays; when it succeeds one task is submitted for it.
TEST(CliSlurm, RetryFailedMovesTheRecordBeforeSubmittingAndBackWhenSbatchFails) {
  const testing::ScratchDir scratch("t5scale_slurm_retry");
  const FakeSlurm slurm(scratch);
  const std::string spec = scratch.write("s.json", kTwoVariants), out = scratch.path("out");
  fs::create_directories(out + "/steps/" + kIds[1] + ".jsonl");   // where nl2's steps log goes: it fails
  CommandResult r = t5scale(fmt::format("sweep {} --out {} --quiet", spec, out));
  ASSERT_EQ(r.exit_code, 2) << r.err;
  fs::remove(out + "/steps/" + kIds[1] + ".jsonl");
  const std::string runs = testing::slurp(out + "/runs.jsonl");
  ASSERT_THAT(runs, HasSubstr(R"("status":"failed")"));
  const std::string args = fmt::format("sweep {} --out {} --slurm --retry-failed", spec, out);

  // sbatch sees runs.jsonl without the failed record, then fails.
  slurm.add("sbatch", fmt::format("/usr/bin/cp {}/runs.jsonl {}\necho 'sbatch: error: slurm_load_partitions: Unable to contact "
                                  "slurm controller (connect failure)' >&2\nexit 1",
                                  out, scratch.path("seen.jsonl")));
  testing::expect_one_line_error(t5scale_under(slurm.env(), args), "sweep",
                                 "--slurm: sbatch failed (exit 1): sbatch: error: slurm_load_partitions: Unable to "
                                 "contact slurm controller (connect failure)");
  EXPECT_EQ(testing::lines(testing::slurp(scratch.path("seen.jsonl"))), 1);
  EXPECT_THAT(testing::slurp(scratch.path("seen.jsonl")), ::testing::Not(HasSubstr(R"("status":"failed")")));
  EXPECT_EQ(testing::slurp(out + "/runs.jsonl"), runs);
  EXPECT_EQ(testing::slurp(out + "/runs.retried.jsonl"), "");
  EXPECT_FALSE(fs::exists(out + "/slurm"));

  slurm.add("sbatch", "echo 99");
  r = t5scale_under(slurm.env(), args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "99\n");
  EXPECT_THAT(r.err, HasSubstr("1 task x 1 thread for 1 variant without a record (1 failed moved to " + out +
                               "/runs.retried.jsonl for retry)"));
  EXPECT_THAT(testing::slurp(out + "/slurm/sweep.sbatch"), HasSubstr("\n#SBATCH --array=0-0\n"));
  EXPECT_EQ(testing::lines(testing::slurp(out + "/runs.jsonl")), 1);
  EXPECT_THAT(testing::slurp(out + "/runs.retried.jsonl"), HasSubstr(R"("status":"failed")"));
  EXPECT_EQ(read_jsonl(out + "/slurm/jobs.jsonl").at(0)["retried"], 1);
}

// Every variant has a record: nothing is submitted (sbatch is not run), exit 0, one line saying so.
TEST(CliSlurm, NothingLeftMeansNoSubmission) {
  const testing::ScratchDir scratch("t5scale_slurm_done");
  const FakeSlurm slurm(scratch);
  slurm.add("sbatch", fmt::format("/usr/bin/touch {}\necho 1", scratch.path("sbatch.ran")));
  const std::string spec = scratch.write("s.json", kTwoVariants), out = scratch.path("out");
  ASSERT_EQ(t5scale(fmt::format("sweep {} --out {} --quiet", spec, out)).exit_code, 0);
  const CommandResult r = t5scale_under(slurm.env(), fmt::format("sweep {} --out {} --slurm", spec, out));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, fmt::format("sweep tiny2: every variant has a record in {}/runs.jsonl; nothing to submit (failed "
                               "ones run again with --retry-failed)\n", out));
  EXPECT_FALSE(fs::exists(scratch.path("sbatch.ran")));
  EXPECT_FALSE(fs::exists(out + "/slurm"));
}

// status on a results directory laid out by hand, against hand-worked numbers. Four seeds of one shape
// (every variant the same FLOPs per step F), 10 steps each, every logged step 0.5 s:
//   s0 ok (a record); s1 running (this test holds its claim, as a Slurm task would), 4 steps logged;
//   s2 pending with a checkpoint at step 2 (3 steps logged: the third is run again); s3 pending, nothing.
// Rate of a worker: F / 0.5 s. Left: s1 10-4, s2 10-2, s3 10 = 24 steps = 24 F; one worker running:
// ETA = 24 F / (F / 0.5 s) = 12 s.
TEST(CliStatus, CountsClaimsAndEtaOfAHandMadeDirectory) {
  const testing::ScratchDir scratch("t5scale_status");
  const std::string out = scratch.path("out");
  const json spec = json::parse(R"({"name": "seeds4", "shapes": ["tiny-dm32-ff64-nh2-kv16"], "seeds": [0, 1, 2, 3],
      "budget": {"steps": 10}, "batch": 2, "inputs_length": 8, "targets_length": 4, "data": {"source": "synthetic"}})");
  const std::string id = "tiny-dm32-ff64-nh2-kv16-s";
  fs::create_directories(out + "/steps");
  fs::create_directories(out + "/locks");
  std::ofstream(out + "/spec.json") << spec.dump(2) << "\n";
  std::ofstream(out + "/runs.jsonl") << json({{"id", id + "0"}, {"status", "ok"}, {"budget", {{"steps_done", 10}}}}).dump()
                                     << "\n";
  const auto log_steps = [&](const std::string& variant, int n) {
    std::ofstream log(out + "/steps/" + variant + ".jsonl");
    for (int s = 1; s <= n; ++s) log << json({{"type", "step"}, {"step", s}, {"loss", 5.0}, {"seconds", 0.5}}).dump() << "\n";
    log << json({{"type", "eval"}, {"step", n}, {"loss", 4.0}}).dump() << "\n";   // not a step: not counted
  };
  log_steps(id + "0", 10);
  log_steps(id + "1", 4);
  log_steps(id + "2", 3);
  const std::string checkpoint = out + "/checkpoints/" + id + "2";
  fs::create_directories(checkpoint);
  for (const char* f : {"model.safetensors", "config.json", "optimizer.safetensors"}) std::ofstream(checkpoint + "/" + f);
  std::ofstream(checkpoint + "/state.json") << R"({"step": 2})";
  // s1's claim, held by this process with a Slurm task's claimant in the lock file.
  const int lock = ::open((out + "/locks/" + id + "1.lock").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(lock, 0);
  ASSERT_EQ(::flock(lock, LOCK_EX | LOCK_NB), 0);
  const std::string claimant = R"({"host": "node7", "pid": 4321, "since": "2026-12-07T06:00:00Z",
      "slurm": {"job_id": "13", "array_job_id": "12", "array_task_id": 1, "task": "12_1"}})";
  ASSERT_EQ(::write(lock, claimant.data(), claimant.size()), ssize_t(claimant.size()));

  CommandResult r = t5scale(fmt::format("status {} --json", out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json s = json::parse(r.out);
  EXPECT_EQ(s["variants"], 4);
  EXPECT_EQ(s["ok"], 1);
  EXPECT_EQ(s["running"], 1);
  EXPECT_EQ(s["pending"], 2);
  EXPECT_EQ(s["failed"], 0);
  EXPECT_EQ(s["logged_steps"], 17);
  EXPECT_DOUBLE_EQ(s["logged_seconds"].get<double>(), 8.5);
  EXPECT_EQ(s["workers"], 1);
  EXPECT_NEAR(s["eta_seconds"].get<double>(), 12.0, 1e-9);
  // F by hand (dm = inner = 32, ff 64, 8 / 4 tokens, tests/sweep_run_test.cpp's ETA test): forward per
  // example 4 x 139,264 (encoder layers) + 4 x 120,832 (decoder layers) + 8,224,768 (lm head)
  // = 9,265,152; training x3, batch 2: 55,590,912.
  const double f = 55590912;
  EXPECT_EQ(s["variant_states"][0]["train_flops_per_step"].get<double>(), f);
  EXPECT_NEAR(s["flops_left"].get<double>(), 24 * f, 1e-6 * f);
  EXPECT_NEAR(s["flops_per_second_per_worker"].get<double>(), f / 0.5, 1e-9 * f);
  const std::vector<std::pair<std::string, int>> want = {{"ok", 10}, {"running", 4}, {"pending", 2}, {"pending", 0}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(s["variant_states"][i]["state"], want[i].first) << i;
    EXPECT_EQ(s["variant_states"][i]["step"], want[i].second) << i;
  }
  EXPECT_EQ(s["variant_states"][1]["claimant"]["slurm"]["task"], "12_1");
  EXPECT_EQ(s["slurm_jobs"], json::array());

  r = t5scale(fmt::format("status {}", out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(fmt::format("sweep seeds4 ({}): 4 variants: 1 ok, 0 diverged, 0 failed, 1 running, 2 pending\n", out)));
  EXPECT_THAT(r.out, HasSubstr(id + "1  running            4/10  slurm task 12_1 on node7, pid 4321\n"));
  EXPECT_THAT(r.out, HasSubstr(id + "2  pending            2/10  resumes from its checkpoint\n"));
  // F / 0.5 s = 111,181,824 FLOP/s; 24 F = 1,334,181,888 FLOPs.
  EXPECT_THAT(r.out, HasSubstr("ETA 12s at 1 worker (111.18M FLOP/s each, measured over 17 logged steps; 1.33G "
                               "training FLOPs left)\n"));
  // sweep SPEC --status prints the same.
  const std::string spec_path = scratch.write("seeds4.json", spec.dump());
  EXPECT_EQ(t5scale(fmt::format("sweep {} --out {} --status", spec_path, out)).out, r.out);

  // Released, s1 is pending from step 0 (no checkpoint): 10 + 8 + 10 = 28 steps left, 14 s.
  ::close(lock);
  const json after = json::parse(t5scale(fmt::format("status {} --json", out)).out);
  EXPECT_EQ(after["running"], 0);
  EXPECT_EQ(after["pending"], 3);
  EXPECT_NEAR(after["eta_seconds"].get<double>(), 14.0, 1e-9);
}

// status's Slurm part from stand-in squeue and scontrol: the submissions of jobs.jsonl with their tasks'
// states; a job squeue no longer lists is asked of scontrol; no squeue on PATH is said, not an error.
TEST(CliStatus, ReportsTheSlurmJobsStates) {
  const testing::ScratchDir scratch("t5scale_status_slurm");
  const FakeSlurm slurm(scratch);
  const std::string spec = scratch.write("s.json", kTwoVariants), out = scratch.path("out");
  slurm.add("sbatch", "echo 12");
  ASSERT_EQ(t5scale_under(slurm.env(), fmt::format("sweep {} --out {} --slurm", spec, out)).exit_code, 0);
  slurm.add("squeue", "[ \"$4\" = 12 ] || exit 9\necho '12_0|RUNNING|node1'\necho '12_1|PENDING|(Resources)'");
  CommandResult r = t5scale_under(slurm.env(), fmt::format("status {}", out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::ContainsRegex(
                         "slurm job 12 \\(submitted [0-9T:Z-]+, 2 tasks\\): RUNNING 12_0 \\(node1\\); PENDING 12_1 \\(Resources\\)\n"));
  // A one-task submission says so in the singular.
  slurm.add("sbatch", "echo 14");
  ASSERT_EQ(t5scale_under(slurm.env(), fmt::format("sweep {} --out {} --slurm --tasks 1", spec, out)).exit_code, 0);
  EXPECT_THAT(t5scale_under(slurm.env(), fmt::format("status {}", out)).out,
              ::testing::ContainsRegex("slurm job 14 \\(submitted [0-9T:Z-]+, 1 task\\): "));
  json s = json::parse(t5scale_under(slurm.env(), fmt::format("status {} --json", out)).out);
  EXPECT_EQ(s["slurm_jobs"][0]["slurm_tasks"],
            json::parse(R"J([{"id": "12_0", "state": "RUNNING", "detail": "node1"},
                             {"id": "12_1", "state": "PENDING", "detail": "Resources"}])J"));
  // Ended: squeue knows it no more, scontrol still does.
  slurm.add("squeue", "echo 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1");
  slurm.add("scontrol", "echo 'JobId=13 ArrayJobId=12 ArrayTaskId=1 JobState=COMPLETED Reason=None ExitCode=0:0'\n"
                        "echo 'JobId=12 ArrayJobId=12 ArrayTaskId=0 JobState=CANCELLED Reason=None ExitCode=0:15'");
  r = t5scale_under(slurm.env(), fmt::format("status {}", out));
  EXPECT_THAT(r.out, HasSubstr("tasks): COMPLETED 12_1 (exit 0:0); CANCELLED 12_0 (exit 0:15)\n"));
  slurm.add("scontrol", "echo 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1");
  r = t5scale_under(slurm.env(), fmt::format("status {}", out));
  EXPECT_THAT(r.out, HasSubstr("tasks): not known to slurmctld any more (it ended;"));
  fs::remove(slurm.bin + "/squeue");
  r = t5scale_under(slurm.env(), fmt::format("status {}", out));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("tasks): squeue not found on PATH\n"));
  EXPECT_THAT(r.out, HasSubstr("ETA ?: no training step logged yet\n"));
}

TEST(CliStatus, NotASweepDirectoryIsOneLine) {
  const testing::ScratchDir scratch("t5scale_status_bad");
  testing::expect_one_line_error(t5scale(fmt::format("status {}", scratch.path("nope"))), "status",
                                 scratch.path("nope") + ": no such directory (hint: run or submit the sweep first");
  testing::expect_one_line_error(t5scale(fmt::format("status {}", scratch.dir().string())), "status",
                                 scratch.dir().string() + ": not a sweep's results directory (no spec.json)");
}

}  // namespace
}  // namespace t5
