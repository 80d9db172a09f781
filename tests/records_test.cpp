// Run records: the schema as a golden line, torn-line tolerance, crash-safe appends from several
// processes, throughput arithmetic against hand-worked numbers, and the file-lock scheduler (two
// claimers never get the same variant; a record ends a variant; a dead claimer's lock is released),
// and moving records out for a retry (bytes kept, history first, nothing lost beside appenders, a
// variant another worker holds left alone).
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "results/records.h"
#include "sweeps/schedule.h"

namespace t5 {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string temp_dir(const std::string& name) {
  const std::string dir = (fs::temp_directory_path() / fmt::format("t5scale_{}_{}", name, ::getpid())).string();
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

RecordParts golden_parts() {
  RecordParts p;
  p.id = "tiny-nl2-s0";
  p.sweep = "depth";
  p.seed = 0;
  p.shape = {{"el", 2}, {"dl", 2}};
  p.coordinates = {{"nl", 2}};
  p.params = 1000;
  p.forward_flops_per_example = 10;
  p.train_flops_per_step = 120;
  p.kaplan_6n_per_step = 200;
  p.budget_value = 3;
  p.steps = 3;
  p.steps_done = 3;
  p.batch = 4;
  p.inputs_length = 8;
  p.targets_length = 2;
  p.settings = {{"lr", 0.01}};
  p.throughput = measure_throughput({0.5, 0.25, 1.0}, 4, 8, 2, 120, 960, 1 << 20);
  p.throughput.precision_path = PrecisionPath::emulated;  // a bf16 run on a CPU without a bf16 matmul
  p.eval_loss = 2.5;
  p.eval_tokens = 16;
  p.final_train_loss = 2.75;
  p.train_curve = {{1, 3.0}, {2, 2.9}, {3, 2.75}};
  p.data = {{"source", "synthetic"}};
  p.context = {{"host", "h"}};
  return p;
}

TEST(Records, GoldenLine) {
  const std::string golden =
      R"j({"schema_version":1,"id":"tiny-nl2-s0","sweep":"depth","status":"ok","error":null,"seed":0,)j"
      R"j("shape":{"dl":2,"el":2},"coordinates":{"nl":2},"params":1000,)j"
      R"j("flops":{"forward_per_example":10.0,"train_per_step":120.0,"kaplan_6n_per_step":200.0,"total":360.0,)j"
      R"j("convention":"exact matmul count, 1 multiply-add = 2 FLOPs, training = 3 x forward (SPEC 3)"},)j"
      R"j("budget":{"kind":"steps","value":3.0,"steps":3,"steps_done":3,"batch":4,"inputs_length":8,)j"
      R"j("targets_length":2,"tokens":120.0},"settings":{"lr":0.01},)j"
      R"j("throughput":{"steps_per_second":2.0,"examples_per_second":8.0,"tokens_per_second":80.0,)j"
      R"j("tokens_definition":"batch * (inputs_length + targets_length)","step_time_seconds":0.5,)j"
      R"j("wall_seconds":1.75,"achieved_flops_per_second":240.0,"gemm_ceiling_flops_per_second":960.0,)j"
      R"j("mfu":0.25,"precision_path":"emulated","peak_rss_bytes":1048576},)j"
      R"j("quality":{"eval_loss":2.5,"negative_log_perplexity":-2.5,"eval_tokens":16,"final_train_loss":2.75,)j"
      R"j("loss_curve":{"first":3.0,"min":2.75,"last":2.75,"points":[[1,3.0],[2,2.9],[3,2.75]]}},)j"
      R"j("data":{"source":"synthetic"},"context":{"host":"h"}})j";
  EXPECT_EQ(make_record(golden_parts()).dump(), golden);
}

// The held-out loss's standard error over eval batches (issue 16) is an optional field after
// eval_tokens: written when measured, left out otherwise (the golden line above has none, as records
// written before it), and never for a run without an eval loss.
TEST(Records, EvalStandardErrorIsOptional) {
  RecordParts p = golden_parts();
  p.eval_batches = 8;
  p.eval_loss_standard_error = 0.0125;
  EXPECT_NE(make_record(p).dump().find(
                R"j("eval_tokens":16,"eval_batches":8,"eval_loss_standard_error":0.0125,"final_train_loss":2.75,)j"),
            std::string::npos)
      << make_record(p).dump();
  p.eval_batch_losses = {2.25, 2.75};
  p.eval_batch_tokens = {8, 8};
  EXPECT_NE(make_record(p).dump().find(
                R"j("eval_loss_standard_error":0.0125,"eval_batch_losses":[2.25,2.75],"eval_batch_tokens":[8,8],)j"),
            std::string::npos)
      << make_record(p).dump();
  p.eval_loss_standard_error = std::nan("");
  EXPECT_FALSE(make_record(p)["quality"].contains("eval_loss_standard_error"));
  EXPECT_EQ(make_record(p)["quality"]["eval_batches"], 8);
  p.eval_loss_standard_error = 0.0125;
  p.eval_loss = std::nan("");
  EXPECT_FALSE(make_record(p)["quality"].contains("eval_loss_standard_error"));
}

TEST(Records, DivergedRunWritesNullQuality) {
  RecordParts p = golden_parts();
  p.status = "diverged";
  p.error = "loss is nan at step 2";
  p.eval_loss = std::nan("");
  p.final_train_loss = std::nan("");
  const auto rec = make_record(p);
  EXPECT_TRUE(rec["quality"]["eval_loss"].is_null());
  EXPECT_TRUE(rec["quality"]["negative_log_perplexity"].is_null());
  EXPECT_EQ(rec["error"], "loss is nan at step 2");
}

TEST(Records, ThroughputByHand) {
  // Median of {2, 1, 4, 3} s is 2.5 s; 8 examples of 100+20 tokens; 1e12 FLOPs per step; ceiling 1e12.
  const Throughput t = measure_throughput({2, 1, 4, 3}, 8, 100, 20, 1e12, 1e12, 0);
  EXPECT_DOUBLE_EQ(t.step_time_seconds, 2.5);
  EXPECT_DOUBLE_EQ(t.steps_per_second, 0.4);
  EXPECT_DOUBLE_EQ(t.examples_per_second, 3.2);
  EXPECT_DOUBLE_EQ(t.tokens_per_second, 384.0);
  EXPECT_DOUBLE_EQ(t.achieved_flops_per_second, 4e11);
  EXPECT_DOUBLE_EQ(t.mfu, 0.4);
  EXPECT_DOUBLE_EQ(t.wall_seconds, 10.0);
}

TEST(Records, LossCurveSummaryThinsEvenly) {
  std::vector<std::pair<int64_t, double>> curve;
  for (int i = 1; i <= 101; ++i) curve.push_back({i, 10.0 - 0.01 * i});
  const auto s = loss_curve_summary(curve, 5);
  EXPECT_EQ(s["points"].dump(), "[[1,9.99],[26,9.74],[51,9.49],[76,9.24],[101,8.99]]");
  EXPECT_DOUBLE_EQ(s["min"].get<double>(), 8.99);
}

TEST(Records, TornLastLineIsReportedAndNextAppendStaysWhole) {
  const std::string dir = temp_dir("torn");
  const std::string path = dir + "/runs.jsonl";
  append_record(path, nlohmann::ordered_json{{"id", "a"}});
  {
    std::ofstream out(path, std::ios::app);
    out << R"({"id":"b","stat)";   // a crash in the middle of a write
  }
  RecordFile f = read_records(path);
  ASSERT_EQ(f.records.size(), 1u);
  EXPECT_EQ(f.torn_lines, std::vector<int64_t>{2});
  EXPECT_FALSE(has_record(f, "b"));
  append_record(path, nlohmann::ordered_json{{"id", "c"}, {"unknown_future_field", 1}});
  f = read_records(path);
  ASSERT_EQ(f.records.size(), 2u);
  EXPECT_TRUE(has_record(f, "c"));
  EXPECT_EQ(f.torn_lines, std::vector<int64_t>{2});
  EXPECT_TRUE(read_records(dir + "/missing.jsonl").records.empty());
  fs::remove_all(dir);
}

// Starts `writers` processes, each appending `each` records record(w, i) to `path`; their pids.
std::vector<pid_t> fork_appenders(const std::string& path, int writers, int each,
                                  const std::function<nlohmann::ordered_json(int, int)>& record) {
  std::vector<pid_t> pids;
  for (int w = 0; w < writers; ++w) {
    const pid_t pid = ::fork();
    if (pid < 0) break;
    if (pid == 0) {
      for (int i = 0; i < each; ++i) append_record(path, record(w, i));
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  return pids;
}

TEST(Records, ConcurrentAppendersLoseNothing) {
  const std::string dir = temp_dir("append");
  const std::string path = dir + "/runs.jsonl";
  const int kWriters = 3, kEach = 100;
  const std::vector<pid_t> pids = fork_appenders(path, kWriters, kEach, [](int w, int i) {
    return nlohmann::ordered_json{{"id", fmt::format("w{}-{}", w, i)}, {"pad", std::string(3000, 'x')}};
  });
  ASSERT_EQ(pids.size(), size_t(kWriters));
  for (pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  const RecordFile f = read_records(path);
  EXPECT_TRUE(f.torn_lines.empty());
  std::set<std::string> ids;
  for (const auto& r : f.records) ids.insert(r["id"].get<std::string>());
  EXPECT_EQ(ids.size(), size_t(kWriters * kEach));
  fs::remove_all(dir);
}

// The lines of a file, each with its newline.
std::string file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(Records, MoveRecordsKeepsBytesAndTornLinesAndWritesHistoryFirst) {
  const std::string dir = temp_dir("move");
  const std::string path = dir + "/runs.jsonl", history = dir + "/runs.retried.jsonl";
  // Hand-written lines (spacing a dump would not reproduce) and a torn one in the middle.
  const std::string a = R"({"id": "a",  "status": "ok"})", b = R"({"id":"b","status":"failed", "n": 1.50})",
                    torn = R"({"id":"t","sta)", c = R"({"status": "failed", "id": "c"})";
  std::ofstream(path, std::ios::binary) << a << "\n" << b << "\n" << torn << "\n" << c << "\n";
  const auto failed = [](const json& r) { return r.value("status", "") == "failed"; };

  // History cannot be written (a directory in its place): nothing moves, runs.jsonl is untouched.
  fs::create_directories(history);
  const std::string before = file_text(path);
  EXPECT_THROW(move_records(path, history, failed), Error);
  EXPECT_EQ(file_text(path), before);
  fs::remove_all(history);

  const std::vector<json> moved = move_records(path, history, failed);
  ASSERT_EQ(moved.size(), 2u);
  EXPECT_EQ(moved[0]["id"], "b");
  EXPECT_EQ(moved[1]["id"], "c");
  EXPECT_EQ(file_text(history), b + "\n" + c + "\n");
  EXPECT_EQ(file_text(path), a + "\n" + torn + "\n");
  EXPECT_EQ(read_records(path).torn_lines, std::vector<int64_t>{2});
  EXPECT_TRUE(fs::exists(dir + "/runs.lock"));
  // Nothing left to move: neither file changes; a second move appends to the history.
  EXPECT_TRUE(move_records(path, history, failed).empty());
  EXPECT_EQ(file_text(path), a + "\n" + torn + "\n");
  append_record(path, nlohmann::ordered_json{{"id", "d"}, {"status", "failed"}});
  ASSERT_EQ(move_records(path, history, failed).size(), 1u);
  EXPECT_EQ(file_text(history), b + "\n" + c + "\n" + R"({"id":"d","status":"failed"})" + "\n");
  fs::remove_all(dir);
}

// Two processes append while this one keeps moving the failed records out: every record ends in
// exactly one of the two files. (A lock on runs.jsonl itself would lose appends made to the file a
// rewrite had just replaced.)
TEST(Records, MovingWhileOthersAppendLosesNothing) {
  const std::string dir = temp_dir("move2");
  const std::string path = dir + "/runs.jsonl", history = dir + "/runs.retried.jsonl";
  const int kWriters = 2, kEach = 150;
  std::vector<pid_t> pids = fork_appenders(path, kWriters, kEach, [](int w, int i) {
    return nlohmann::ordered_json{{"id", fmt::format("w{}-{}", w, i)}, {"status", i % 2 ? "failed" : "ok"}};
  });
  ASSERT_EQ(pids.size(), size_t(kWriters));
  const auto failed = [](const json& r) { return r.value("status", "") == "failed"; };
  size_t moved = 0;
  int running = kWriters;
  while (running > 0) {
    moved += move_records(path, history, failed).size();
    for (pid_t& pid : pids) {
      int status = 0;
      if (pid > 0 && ::waitpid(pid, &status, WNOHANG) == pid) {
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        pid = 0;
        --running;
      }
    }
  }
  moved += move_records(path, history, failed).size();
  std::multiset<std::string> kept, gone;
  for (const auto& r : read_records(path).records) {
    EXPECT_EQ(r["status"], "ok");
    kept.insert(r["id"].get<std::string>());
  }
  for (const auto& r : read_records(history).records) {
    EXPECT_EQ(r["status"], "failed");
    gone.insert(r["id"].get<std::string>());
  }
  EXPECT_EQ(kept.size(), size_t(kWriters * kEach / 2));
  EXPECT_EQ(gone.size(), size_t(kWriters * kEach / 2));
  EXPECT_EQ(moved, gone.size());
  std::set<std::string> all(kept.begin(), kept.end());
  all.insert(gone.begin(), gone.end());
  EXPECT_EQ(all.size(), size_t(kWriters * kEach));   // none lost, none twice
  fs::remove_all(dir);
}

std::vector<Variant> variants(int n) {
  std::vector<Variant> out;
  for (int i = 0; i < n; ++i) {
    Variant v;
    v.id = fmt::format("tiny-nl{}-s0", i + 1);
    out.push_back(v);
  }
  return out;
}

TEST(Scheduler, TwoClaimersNeverShareAVariant) {
  const std::string dir = temp_dir("claim");
  const ResultsLayout layout{dir};
  auto a = make_file_lock_scheduler(layout, variants(3));
  auto b = make_file_lock_scheduler(layout, variants(3));
  auto ca = a->claim();
  auto cb = b->claim();
  ASSERT_TRUE(ca && cb);
  EXPECT_EQ(ca->variant().id, "tiny-nl1-s0");
  EXPECT_EQ(cb->variant().id, "tiny-nl2-s0");
  auto ca2 = a->claim();
  ASSERT_TRUE(ca2);
  EXPECT_EQ(ca2->variant().id, "tiny-nl3-s0");
  EXPECT_EQ(b->claim(), nullptr);   // everything is claimed
  // Releasing without a record makes a variant claimable again; publishing finishes it.
  a->release(std::move(ca2));
  a->publish(std::move(ca), nlohmann::ordered_json{{"id", "tiny-nl1-s0"}, {"status", "ok"}});
  auto again = b->claim();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->variant().id, "tiny-nl3-s0");
  EXPECT_EQ(a->finished(), std::vector<std::string>{"tiny-nl1-s0"});
  // A record for the wrong id is refused.
  EXPECT_THROW(b->publish(std::move(cb), nlohmann::ordered_json{{"id", "other"}}), Error);
  fs::remove_all(dir);
}

TEST(Scheduler, RetryMovesFailedRecordsButNotOnesAnotherWorkerHolds) {
  const std::string dir = temp_dir("retry");
  const ResultsLayout layout{dir};
  for (int i = 1; i <= 3; ++i)
    append_record(layout.runs(), nlohmann::ordered_json{{"id", fmt::format("tiny-nl{}-s0", i)},
                                                        {"status", i == 2 ? "ok" : "failed"}});
  append_record(layout.runs(), nlohmann::ordered_json{{"id", "not-in-this-sweep"}, {"status", "failed"}});
  // Another worker (its own descriptor) holds tiny-nl1-s0's lock.
  fs::create_directories(dir + "/locks");
  const int held = ::open(layout.lock("tiny-nl1-s0").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(held, 0);
  ASSERT_EQ(::flock(held, LOCK_EX | LOCK_NB), 0);
  std::vector<json> moved = release_for_retry(layout, variants(3), {"failed"});
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_EQ(moved[0]["id"], "tiny-nl3-s0");
  auto s = make_file_lock_scheduler(layout, variants(3));
  EXPECT_EQ(s->finished(), (std::vector<std::string>{"tiny-nl1-s0", "tiny-nl2-s0"}));
  auto c = s->claim();   // the moved variant is claimable again (its lock was let go)
  ASSERT_TRUE(c);
  EXPECT_EQ(c->variant().id, "tiny-nl3-s0");
  s->release(std::move(c));
  ::close(held);
  moved = release_for_retry(layout, variants(3), {"failed"});
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_EQ(moved[0]["id"], "tiny-nl1-s0");
  EXPECT_EQ(read_records(layout.retried()).records.size(), 2u);
  EXPECT_TRUE(has_record(read_records(layout.runs()), "not-in-this-sweep"));   // other sweeps' ids stay
  EXPECT_TRUE(release_for_retry(layout, variants(3), {"failed"}).empty());
  fs::remove_all(dir);
}

TEST(Scheduler, ClaimersInTwoProcessesSplitTheWork) {
  const std::string dir = temp_dir("claim2");
  const ResultsLayout layout{dir};
  const int kVariants = 12;
  std::vector<pid_t> pids;
  for (int w = 0; w < 2; ++w) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto s = make_file_lock_scheduler(layout, variants(kVariants));
      while (auto c = s->claim()) {
        ::usleep(2000);   // "training"
        const std::string id = c->variant().id;
        s->publish(std::move(c), nlohmann::ordered_json{{"id", id}, {"worker", w}});
      }
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
  const RecordFile f = read_records(layout.runs());
  std::multiset<std::string> ids;
  for (const auto& r : f.records) ids.insert(r["id"].get<std::string>());
  EXPECT_EQ(ids.size(), size_t(kVariants));                    // no duplicate
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), size_t(kVariants));   // none lost
  fs::remove_all(dir);
}

TEST(Scheduler, KilledClaimerReleasesItsLock) {
  const std::string dir = temp_dir("claim3");
  const ResultsLayout layout{dir};
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto s = make_file_lock_scheduler(layout, variants(1));
    auto c = s->claim();
    const char byte = c ? 1 : 0;
    (void)!::write(ready[1], &byte, 1);
    ::pause();   // holds the claim until killed
    ::_exit(0);
  }
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  ASSERT_EQ(byte, 1);
  auto s = make_file_lock_scheduler(layout, variants(1));
  EXPECT_EQ(s->claim(), nullptr);   // held by the child
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  EXPECT_NE(s->claim(), nullptr);   // the kernel dropped the dead process's flock
  fs::remove_all(dir);
}

}  // namespace
}  // namespace t5
