// The sweep loop with fake runners: every variant gets exactly one record, a rerun skips finished
// variants, failures and divergences are recorded and the sweep goes on, a failed variant runs again
// (from its checkpoint) only once its record is moved out for a retry, an interrupted variant gets
// no record and stops the loop, a results directory of a different spec is refused, and two
// concurrent sweeps on one directory split the variants.
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/error.h"
#include "core/interrupt.h"
#include "core/progress.h"
#include "results/records.h"
#include "sweeps/runner.h"
#include "sweeps/schedule.h"

namespace t5 {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

std::string temp_dir(const std::string& name) {
  const std::string dir = (fs::temp_directory_path() / fmt::format("t5scale_run_{}_{}", name, ::getpid())).string();
  fs::remove_all(dir);
  return dir;
}

SweepSpec spec_with(int n) {
  json grid = json::array();
  for (int i = 1; i <= n; ++i) grid.push_back(i);
  return parse_sweep_spec(json{{"name", "fake"}, {"base", "tiny-dm32-ff64-nh2-kv16"}, {"grid", {{"nl", grid}}},
                               {"budget", {{"steps", 4}}}, {"batch", 2}, {"inputs_length", 8},
                               {"targets_length", 4}, {"data", {{"source", "synthetic"}}}},
                          "fake.json");
}

// A runner whose loss is a function of the shape, so reruns are comparable.
VariantOutcome fake_outcome(const Variant& v, const VariantContext& ctx) {
  VariantOutcome o;
  LineLog steps(ctx.steps_log, true);
  for (int64_t s = 1; s <= v.steps; ++s) {
    const double loss = 5.0 - 0.1 * double(s) - 0.05 * double(v.shape.el);
    o.train_curve.push_back({s, loss});
    o.step_seconds.push_back(0.001);
    steps.append({{"kind", "train"}, {"step", s}, {"loss", loss}});
  }
  o.steps_done = v.steps;
  o.eval_loss = 4.0 - 0.1 * double(v.shape.el);
  o.eval_tokens = 10;
  return o;
}

SweepOptions quiet(const std::string& dir) {
  SweepOptions o;
  o.out_dir = dir;
  o.progress = false;
  return o;
}

// The ETA after a variant: the training FLOPs nobody has finished over this worker's FLOP rate times the
// number of workers. tiny-dm32-ff64-nh2-kv16 (dm = inner = 32, ff 64) at 8 / 4, forward per example:
//   encoder layer 2*8*4*32^2 + 4*8^2*32 + 2*8*2*32*64 = 65,536 + 8,192 + 65,536 = 139,264;
//   decoder layer 2*4*4*32^2 + 4*4^2*32 + 2*4*2*32^2 + 2*8*2*32^2 + 4*4*8*32 + 2*4*2*32*64
//                 = 32,768 + 2,048 + 16,384 + 32,768 + 4,096 + 32,768 = 120,832;
//   lm head 2*4*32*32128 = 8,224,768.  nl1: 8,484,864; nl64: 64*260,096 + 8,224,768 = 24,870,912.
// Same steps and batch: nl1 taking T s leaves 24,870,912 / 8,484,864 = 2.931 T s of work, over 2 workers
// 1.466 T. With T = 2 s (a sleep; the record's write adds milliseconds): 2.93 s, printed 3s. Counting
// nl1's own FLOPs as left would print 4s, one worker 6s. T is at most the wall time W of the whole
// sweep, so a loaded machine widens what is accepted to 1.466 W (never failing a right ETA).
TEST(SweepRun, EtaIsTheFlopsLeftOverTheRateOfEveryWorker) {
  const std::string dir = temp_dir("eta");
  const SweepSpec spec = parse_sweep_spec(json{{"name", "eta"}, {"base", "tiny-dm32-ff64-nh2-kv16"},
                                               {"grid", {{"nl", {1, 64}}}}, {"budget", {{"steps", 4}}},
                                               {"batch", 2}, {"inputs_length", 8}, {"targets_length", 4},
                                               {"data", {{"source", "synthetic"}}}},
                                          "eta.json");
  const VariantRunner runner = [&](const SweepSpec&, const Variant& v, const VariantContext& ctx) {
    if (v.shape.el == 1) std::this_thread::sleep_for(std::chrono::seconds(2));
    return fake_outcome(v, ctx);
  };
  SweepOptions options = quiet(dir);
  options.progress = true;
  options.workers = 2;
  ::testing::internal::CaptureStderr();
  const auto start = std::chrono::steady_clock::now();
  run_sweep(spec, expand(spec), runner, options);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string err = ::testing::internal::GetCapturedStderr();
  const auto line = [&](double t) {
    return fmt::format("[1/2] tiny-dm32-ff64-nh2-kv16-nl1-s0 ok: 4 steps in {}, eval loss 3.9000 | ETA {}\n",
                       format_duration(t), format_duration(24870912.0 / 8484864.0 / 2 * t));
  };
  bool found = false;
  for (double t = 2.0; t <= wall + 0.01 && !found; t += 0.01) found = err.find(line(t)) != std::string::npos;
  EXPECT_TRUE(found) << "expected " << line(2.0) << "(up to " << line(wall) << ") in\n" << err;
  EXPECT_THAT(err, HasSubstr("[2/2] tiny-dm32-ff64-nh2-kv16-nl64-s0 ok: 4 steps in 0s, eval loss -2.4000 | ETA 0s\n"))
      << err;
  fs::remove_all(dir);
}

TEST(SweepRun, EveryVariantOnceAndRerunSkips) {
  const std::string dir = temp_dir("once");
  const SweepSpec spec = spec_with(3);
  const Expansion e = expand(spec);
  std::atomic<int> calls{0};
  const VariantRunner runner = [&](const SweepSpec&, const Variant& v, const VariantContext& ctx) {
    ++calls;
    return fake_outcome(v, ctx);
  };
  SweepSummary s = run_sweep(spec, e, runner, quiet(dir));
  EXPECT_EQ(s.ran, 3);
  EXPECT_EQ(calls.load(), 3);
  const RecordFile f = read_records(dir + "/runs.jsonl");
  ASSERT_EQ(f.records.size(), 3u);
  EXPECT_EQ(f.records[2]["id"], "tiny-dm32-ff64-nh2-kv16-nl3-s0");
  EXPECT_DOUBLE_EQ(f.records[2]["quality"]["negative_log_perplexity"].get<double>(), -3.7);
  EXPECT_EQ(f.records[2]["budget"]["steps_done"], 4);
  EXPECT_TRUE(fs::exists(dir + "/spec.json"));
  EXPECT_TRUE(fs::exists(dir + "/steps/tiny-dm32-ff64-nh2-kv16-nl1-s0.jsonl"));
  s = run_sweep(spec, e, runner, quiet(dir));   // rerun: nothing left
  EXPECT_EQ(s.ran, 0);
  EXPECT_EQ(s.skipped_finished, 3);
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(read_records(dir + "/runs.jsonl").records.size(), 3u);
  fs::remove_all(dir);
}

TEST(SweepRun, FailuresAndDivergenceAreRecordedAndTheSweepGoesOn) {
  const std::string dir = temp_dir("fail");
  const SweepSpec spec = spec_with(3);
  const VariantRunner runner = [&](const SweepSpec&, const Variant& v, const VariantContext& ctx) {
    if (v.shape.el == 1) throw Error("corpus file is unreadable");
    VariantOutcome o = fake_outcome(v, ctx);
    if (v.shape.el == 2) {
      o.diverged = true;
      o.error = "loss is nan at step 3";
      o.eval_loss = std::nan("");
    }
    return o;
  };
  const SweepSummary s = run_sweep(spec, expand(spec), runner, quiet(dir));
  EXPECT_EQ(s.ran, 3);
  EXPECT_EQ(s.failed, 1);
  EXPECT_EQ(s.diverged, 1);
  const RecordFile f = read_records(dir + "/runs.jsonl");
  ASSERT_EQ(f.records.size(), 3u);
  EXPECT_EQ(f.records[0]["status"], "failed");
  EXPECT_EQ(f.records[0]["error"], "corpus file is unreadable");
  EXPECT_EQ(f.records[1]["status"], "diverged");
  EXPECT_TRUE(f.records[1]["quality"]["eval_loss"].is_null());
  EXPECT_EQ(f.records[2]["status"], "ok");
  fs::remove_all(dir);
}

// A variant stopped by Ctrl-C (the trainer throws Interrupted after checkpointing) is not failed: no
// record, its claim is given back, the loop stops before the next variant; a rerun runs it and the rest.
TEST(SweepRun, InterruptedVariantHasNoRecordAndTheLoopStops) {
  const std::string dir = temp_dir("interrupt");
  const SweepSpec spec = spec_with(3);
  const Expansion e = expand(spec);
  const std::string x = "tiny-dm32-ff64-nh2-kv16-nl2-s0";
  std::vector<std::string> ran;
  const VariantRunner stops_at_x = [&](const SweepSpec&, const Variant& v, const VariantContext& ctx) {
    ran.push_back(v.id);
    if (v.id == x) throw Interrupted(3, true);
    return fake_outcome(v, ctx);
  };
  SweepSummary s = run_sweep(spec, e, stops_at_x, quiet(dir));
  EXPECT_TRUE(s.interrupted);
  EXPECT_EQ(s.interrupted_variant, x);
  EXPECT_EQ(s.interrupted_step, 3);
  EXPECT_EQ(s.ran, 1);
  EXPECT_EQ(s.failed, 0);
  EXPECT_EQ(ran, (std::vector<std::string>{"tiny-dm32-ff64-nh2-kv16-nl1-s0", x}));
  const RecordFile f = read_records(dir + "/runs.jsonl");
  ASSERT_EQ(f.records.size(), 1u);
  EXPECT_EQ(f.records[0]["id"], "tiny-dm32-ff64-nh2-kv16-nl1-s0");

  // The flag set (a Ctrl-C between variants): nothing is claimed.
  const VariantRunner fake = [&](const SweepSpec&, const Variant& v, const VariantContext& ctx) {
    ran.push_back(v.id);
    return fake_outcome(v, ctx);
  };
  request_interrupt();
  s = run_sweep(spec, e, fake, quiet(dir));
  clear_interrupt();
  EXPECT_TRUE(s.interrupted);
  EXPECT_EQ(s.interrupted_variant, "");
  EXPECT_EQ(s.ran, 0);
  // The rerun: x was released, so it and the third run now.
  s = run_sweep(spec, e, fake, quiet(dir));
  EXPECT_FALSE(s.interrupted);
  EXPECT_EQ(s.ran, 2);
  EXPECT_EQ(ran.size(), 4u);
  EXPECT_EQ(read_records(dir + "/runs.jsonl").records.size(), 3u);
  fs::remove_all(dir);
}

// The line of runs.jsonl holding `id`, as written.
std::string record_line(const std::string& path, const std::string& id) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (line.find(fmt::format("\"id\":\"{}\"", id)) != std::string::npos) return line;
  return "";
}

TEST(SweepRun, RetryFailedRunsAFailedVariantAgainFromItsCheckpoint) {
  const std::string dir = temp_dir("retry");
  const SweepSpec spec = spec_with(3);
  const Expansion e = expand(spec);
  const std::string x = "tiny-dm32-ff64-nh2-kv16-nl2-s0";
  std::map<std::string, int> calls;
  bool resumed = false;
  // Variant x fails the first time (as out of memory would) after leaving a checkpoint.
  const VariantRunner runner = [&](const SweepSpec&, const Variant& v, const VariantContext& ctx) {
    if (++calls[v.id] == 1 && v.id == x) {
      fs::create_directories(ctx.checkpoint_dir);
      std::ofstream(ctx.checkpoint_dir + "/state.json") << "{}";
      throw Error("out of memory");
    }
    resumed = resumed || (v.id == x && fs::exists(ctx.checkpoint_dir + "/state.json"));
    return fake_outcome(v, ctx);
  };
  SweepSummary s = run_sweep(spec, e, runner, quiet(dir));
  EXPECT_EQ(s.ran, 3);
  EXPECT_EQ(s.failed, 1);
  const std::string failed_line = record_line(dir + "/runs.jsonl", x);
  ASSERT_THAT(failed_line, HasSubstr(R"("status":"failed")"));
  // Without a retry a failed variant counts as finished.
  s = run_sweep(spec, e, runner, quiet(dir));
  EXPECT_EQ(s.ran, 0);
  EXPECT_EQ(calls[x], 1);

  const ResultsLayout layout{dir};
  const std::vector<json> moved = release_for_retry(layout, e.variants, {"failed"});
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_EQ(moved[0]["id"], x);
  s = run_sweep(spec, e, runner, quiet(dir));
  EXPECT_EQ(s.ran, 1);
  EXPECT_EQ(s.failed, 0);
  EXPECT_EQ(calls[x], 2);
  EXPECT_TRUE(resumed);                          // the failed run's checkpoint was there to resume from
  EXPECT_FALSE(fs::exists(layout.checkpoint(x)));   // and removed once it finished ok
  const RecordFile f = read_records(layout.runs());
  ASSERT_EQ(f.records.size(), 3u);
  std::set<std::string> ids;
  for (const auto& r : f.records) {
    ids.insert(r["id"].get<std::string>());
    EXPECT_EQ(r["status"], "ok") << r["id"];
  }
  EXPECT_EQ(ids.size(), 3u);
  std::ifstream history(layout.retried(), std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(history), std::istreambuf_iterator<char>()), failed_line + "\n");
  // Nothing failed is left: a second retry moves nothing and runs nothing.
  EXPECT_TRUE(release_for_retry(layout, e.variants, {"failed"}).empty());
  EXPECT_EQ(run_sweep(spec, e, runner, quiet(dir)).ran, 0);
  fs::remove_all(dir);
}

TEST(SweepRun, RefusesADirectoryOfAnotherSpec) {
  const std::string dir = temp_dir("other");
  const VariantRunner runner = [](const SweepSpec&, const Variant& v, const VariantContext& ctx) {
    return fake_outcome(v, ctx);
  };
  run_sweep(spec_with(1), expand(spec_with(1)), runner, quiet(dir));
  try {
    run_sweep(spec_with(2), expand(spec_with(2)), runner, quiet(dir));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("holds a different sweep spec"));
  }
  fs::remove_all(dir);
}

TEST(SweepRun, TwoConcurrentSweepsSplitTheVariants) {
  const std::string dir = temp_dir("concurrent");
  const SweepSpec spec = spec_with(8);
  const Expansion e = expand(spec);
  std::atomic<int> calls{0};
  const VariantRunner runner = [&](const SweepSpec&, const Variant& v, const VariantContext& ctx) {
    ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return fake_outcome(v, ctx);
  };
  SweepSummary a, b;
  std::thread ta([&] { a = run_sweep(spec, e, runner, quiet(dir)); });
  std::thread tb([&] { b = run_sweep(spec, e, runner, quiet(dir)); });
  ta.join();
  tb.join();
  EXPECT_EQ(calls.load(), 8);
  EXPECT_EQ(a.ran + b.ran, 8);
  EXPECT_GT(a.ran, 0);
  EXPECT_GT(b.ran, 0);
  const RecordFile f = read_records(dir + "/runs.jsonl");
  std::set<std::string> ids;
  for (const auto& r : f.records) ids.insert(r["id"].get<std::string>());
  EXPECT_EQ(f.records.size(), 8u);
  EXPECT_EQ(ids.size(), 8u);
  fs::remove_all(dir);
}

// A worker keeps who it is in the lock file of the variant it holds (what `status` shows: host, pid,
// the Slurm task when there is one) and empties it when it publishes; variant_claimant reads it while
// the claim is held and says nobody once it is not.
TEST(SweepSchedule, TheClaimantIsReadableWhileTheClaimIsHeld) {
  const std::string dir = temp_dir("claimant");
  const SweepSpec spec = spec_with(1);
  const ResultsLayout layout{dir};
  const auto scheduler = make_file_lock_scheduler(layout, expand(spec).variants);
  const std::string id = expand(spec).variants[0].id;
  EXPECT_EQ(variant_claimant(layout, id), std::nullopt);
  std::unique_ptr<Claim> claim = scheduler->claim();
  ASSERT_NE(claim, nullptr);
  const std::optional<json> claimant = variant_claimant(layout, id);
  ASSERT_TRUE(claimant.has_value());
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  EXPECT_EQ((*claimant)["host"], host);
  EXPECT_EQ((*claimant)["pid"], ::getpid());
  EXPECT_EQ(claimant->contains("slurm"), std::getenv("SLURM_JOB_ID") != nullptr);
  // Probing took nothing away: the claim is still this worker's, and the variant nobody else's.
  EXPECT_EQ(make_file_lock_scheduler(layout, expand(spec).variants)->claim(), nullptr);
  scheduler->publish(std::move(claim), {{"id", id}, {"status", "ok"}});
  EXPECT_EQ(variant_claimant(layout, id), std::nullopt);
  std::ifstream lock(layout.lock(id));
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(lock), {}), "");
  fs::remove_all(dir);
}

// A variant locked at the moment a worker looks (a `status` probe holds the lock for microseconds) is
// looked at again before the worker concludes that nothing is left: it gets the variant once the
// probe's lock is gone. Held longer (a real worker), the variant stays the other's.
TEST(SweepSchedule, AVariantLockedBrieflyIsClaimedOnTheSecondLook) {
  const std::string dir = temp_dir("probe");
  const SweepSpec spec = spec_with(1);
  const ResultsLayout layout{dir};
  const auto scheduler = make_file_lock_scheduler(layout, expand(spec).variants);
  const auto hold_for = [&](std::chrono::milliseconds how_long) {
    const int fd = ::open(layout.lock(expand(spec).variants[0].id).c_str(), O_RDONLY | O_CREAT, 0644);
    EXPECT_EQ(::flock(fd, LOCK_SH | LOCK_NB), 0);
    return std::thread([fd, how_long] {
      std::this_thread::sleep_for(how_long);
      ::close(fd);
    });
  };
  std::thread briefly = hold_for(std::chrono::milliseconds(5));
  std::unique_ptr<Claim> claim = scheduler->claim();
  briefly.join();
  ASSERT_NE(claim, nullptr);
  claim.reset();
  std::thread long_held = hold_for(std::chrono::milliseconds(500));
  EXPECT_EQ(scheduler->claim(), nullptr);
  long_held.join();
  fs::remove_all(dir);
}

TEST(SweepRun, TrimStepsLogKeepsStepsUpToTheCheckpoint) {
  const std::string dir = temp_dir("trim");
  fs::create_directories(dir);
  const std::string path = dir + "/s.jsonl";
  {
    LineLog log(path, true);
    for (int s = 1; s <= 5; ++s) log.append({{"kind", "train"}, {"step", s}, {"loss", 1.0}});
  }
  trim_steps_log(path, 3);
  std::ifstream in(path);
  int lines = 0;
  std::string line;
  while (std::getline(in, line)) ++lines;
  EXPECT_EQ(lines, 3);
  trim_steps_log(path, 0);
  EXPECT_EQ(fs::file_size(path), 0u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace t5
