// The real sweep runner on the test fixture corpus (tests/fixtures/data), tiny shapes, few steps:
// a record equals a direct train() call on the same data; a sweep killed (SIGKILL) in the middle of
// a variant and between variants resumes to the very records and losses of an uninterrupted run, with
// no lost or duplicated record; two processes (and --jobs 2) on one directory run each variant
// once; a diverging run is recorded as diverged and the sweep goes on; bad data settings fail up
// front naming the spec key.
#include <array>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/data/c4_source.h"
#include "core/error.h"
#include "core/gemm.h"
#include "core/interrupt.h"
#include "core/model.h"
#include "core/trainer.h"
#include "results/records.h"
#include "sweeps/runner.h"
#include "sweeps/trainer_runner.h"
#include "tests/cli_runner.h"

namespace t5 {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

const std::string kCorpus = std::string(T5SCALE_SOURCE_DIR) + "/tests/fixtures/data";
const std::string kTokenizer = kCorpus + "/spiece.model";

std::string temp_path(const std::string& name) {
  const std::string p = (fs::temp_directory_path() / fmt::format("t5scale_train_{}_{}", name, ::getpid())).string();
  fs::remove_all(p);
  return p;
}

// Tiny variants: d_model 32, 2 heads; 8 steps of 2 examples of 32 input tokens (span corruption makes
// 8 target tokens of them); evaluations at steps 4 and 8 over 2 held-out batches; checkpoints every 3.
json spec_json(const std::string& name, const json& nl, const json& overrides = json::object()) {
  json j = {{"name", name},
            {"base", "tiny-dm32-ff64-nh2-kv16"},
            {"grid", {{"nl", nl}}},
            {"budget", {{"steps", 8}}},
            {"batch", 2},
            {"inputs_length", 32},
            {"targets_length", 8},
            {"optimizer", "adafactor"},
            {"schedule", "constant"},
            {"lr", 0.01},
            {"eval", {{"every", 4}, {"batches", 2}}},
            {"checkpoint_every", 3},
            {"threads", 1},
            {"data", {{"corpus", kCorpus}, {"tokenizer", kTokenizer}}}};
  j.merge_patch(overrides);
  return j;
}

std::string write_spec(const std::string& name, const json& j) {
  const std::string path = temp_path(name) + ".json";
  std::ofstream(path) << j.dump(2);
  return path;
}

SweepOptions quiet(const std::string& dir) {
  SweepOptions o;
  o.out_dir = dir;
  o.progress = false;
  return o;
}

// Runs `t5scale ARGS` (tests/cli_runner.h) with T5SCALE_TEST_KILL_AT=kill_at when given: the process
// SIGKILLs itself there (sweeps/trainer_runner.cpp).
testing::CommandResult run(const std::string& args, const std::string& kill_at = "") {
  if (!kill_at.empty()) ::setenv("T5SCALE_TEST_KILL_AT", kill_at.c_str(), 1);
  testing::CommandResult r = testing::t5scale(args);
  ::unsetenv("T5SCALE_TEST_KILL_AT");
  return r;
}

// system() reports a SIGKILLed child as not exited (-1), or as the shell's 128 + 9.
bool killed(const testing::CommandResult& r) { return r.exit_code == -1 || r.exit_code == 128 + SIGKILL; }

std::map<std::string, json> records_by_id(const std::string& dir, size_t expect) {
  const RecordFile f = read_records(dir + "/runs.jsonl");
  EXPECT_TRUE(f.torn_lines.empty());
  std::map<std::string, json> out;
  for (const auto& r : f.records) EXPECT_TRUE(out.emplace(r["id"].get<std::string>(), r).second) << "duplicate " << r["id"];
  EXPECT_EQ(f.records.size(), expect);
  return out;
}

// (type, step) -> loss of a steps log; every (type, step) at most once.
std::map<std::pair<std::string, int64_t>, double> steps_log(const std::string& path) {
  std::map<std::pair<std::string, int64_t>, double> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const json j = json::parse(line);
    const bool fresh = out.emplace(std::make_pair(j["type"].get<std::string>(), j["step"].get<int64_t>()),
                                   j["loss"].get<double>()).second;
    EXPECT_TRUE(fresh) << path << ": repeated line " << line;
  }
  return out;
}

TEST(SweepTrain, RecordEqualsADirectTrainCallOnTheSameData) {
  set_num_threads(1);
  const std::string dir = temp_path("e2e");
  const SweepSpec spec = parse_sweep_spec(spec_json("e2e", {1, 2}), "e2e.json");
  const Expansion e = expand(spec);
  check_training_data(spec, e);
  const SweepSummary s = run_sweep(spec, e, make_training_runner(), quiet(dir));
  EXPECT_EQ(s.ran, 2);
  EXPECT_EQ(s.failed + s.diverged, 0);
  const auto records = records_by_id(dir, 2);
  const std::string id = "tiny-dm32-ff64-nh2-kv16-nl1-s0";
  ASSERT_TRUE(records.count(id));
  const json& r = records.at(id);
  EXPECT_EQ(r["status"], "ok");
  EXPECT_EQ(r["budget"]["steps_done"], 8);
  EXPECT_EQ(r["data"]["source"], "c4");
  // Counts by hand (SPEC §2, §3) for tiny-dm32-ff64-nh2-kv16-nl1: dm = inner = 32, ff 64, nh 2, V 32128
  // (the shape's vocabulary; the 1000-piece tokenizer fits in it), Le 32, Ld 8, batch 2.
  //   params 32128*32 + (4*32*32 + 2*32*64 + 2*32) + (8*32*32 + 2*32*64 + 3*32) + 2*32*2 + 2*32
  //        = 1,028,096 + 8,256 + 12,384 + 128 + 64 = 1,048,928; non-embedding 1,048,928 - 1,028,096 - 128 = 20,704.
  //   forward: encoder 2*32*4*32^2 + 4*32^2*32 + 2*32*2*32*64 = 262,144 + 131,072 + 262,144 = 655,360;
  //   decoder 2*8*4*32^2 + 4*8^2*32 + 2*8*2*32^2 + 2*32*2*32^2 + 4*8*32*32 + 2*8*2*32*64 = 65,536 + 8,192
  //   + 32,768 + 131,072 + 32,768 + 65,536 = 335,872; lm head 2*8*32*32128 = 16,449,536; sum 17,440,768.
  //   step 3*2*17,440,768 = 104,644,608; 8 steps 837,156,864; Kaplan 6*20,704*2*(32+8) = 9,937,920;
  //   tokens 8 steps * 2 * (32 + 8) = 640.
  EXPECT_EQ(r["params"], 1048928);
  EXPECT_EQ(r["flops"]["forward_per_example"].get<double>(), 17440768.0);
  EXPECT_EQ(r["flops"]["train_per_step"].get<double>(), 104644608.0);
  EXPECT_EQ(r["flops"]["total"].get<double>(), 837156864.0);
  EXPECT_EQ(r["flops"]["kaplan_6n_per_step"].get<double>(), 9937920.0);
  EXPECT_EQ(r["budget"]["tokens"].get<double>(), 640.0);

  // Independent reference: the same model, data streams and settings through train() directly.
  Model model(e.variants[0].shape);
  init_params(model, 0);
  SpanCorruptionConfig sc;
  sc.inputs_length = 32;
  C4Source train_data(kCorpus, "train", kTokenizer, sc, 2, 0);
  C4Source eval_data(kCorpus, "validation", kTokenizer, sc, 2, 0);
  ASSERT_EQ(train_data.lengths().targets_length, 8);
  TrainConfig c;
  c.steps = 8;
  c.batch = 2;
  c.schedule.kind = ScheduleKind::constant;
  c.schedule.lr = 0.01;
  c.eval_every = 4;
  c.eval_batches = 2;
  const TrainResult ref = train(model, train_data, &eval_data, c);
  ASSERT_EQ(ref.evals.size(), 2u);
  EXPECT_EQ(r["quality"]["eval_loss"].get<double>(), ref.evals.back().loss);
  EXPECT_EQ(r["quality"]["negative_log_perplexity"].get<double>(), -ref.evals.back().loss);
  EXPECT_EQ(r["quality"]["eval_tokens"].get<int64_t>(), ref.evals.back().tokens);
  EXPECT_EQ(r["quality"]["eval_batches"].get<int64_t>(), 2);
  EXPECT_EQ(r["quality"]["eval_loss_standard_error"].get<double>(), ref.evals.back().loss_standard_error);
  EXPECT_EQ(r["quality"]["eval_batch_losses"].get<std::vector<double>>(), ref.evals.back().batch_losses);
  EXPECT_EQ(r["quality"]["eval_batch_tokens"].get<std::vector<int64_t>>(), ref.evals.back().batch_tokens);
  EXPECT_EQ(r["quality"]["final_train_loss"].get<double>(), ref.steps.back().loss);
  const auto log = steps_log(dir + "/steps/" + id + ".jsonl");
  EXPECT_EQ(log.size(), 8u + 2u);
  for (const auto& m : ref.steps) EXPECT_EQ(log.at({"step", m.step}), m.loss) << "step " << m.step;
  EXPECT_EQ(log.at({"eval", 4}), ref.evals[0].loss);
  EXPECT_LT(ref.evals.back().loss, ref.evals.front().loss + 1.0);   // sanity: a finite, trained loss

  // Throughput from the steps' times: tokens per step = batch x (inputs + targets).
  const json& t = r["throughput"];
  EXPECT_GT(t["steps_per_second"].get<double>(), 0);
  EXPECT_NEAR(t["tokens_per_second"].get<double>(), 2 * (32 + 8) * t["steps_per_second"].get<double>(), 1e-6);
  const double steps_per_second = t["steps_per_second"].get<double>();
  EXPECT_NEAR(steps_per_second * t["step_time_seconds"].get<double>(), 1.0, 1e-12);
  EXPECT_NEAR(t["examples_per_second"].get<double>(), 2 * steps_per_second, 1e-9 * steps_per_second);
  EXPECT_NEAR(t["achieved_flops_per_second"].get<double>(), 104644608.0 * steps_per_second, 1e-3 * steps_per_second);
  EXPECT_EQ(t["gemm_ceiling_flops_per_second"].get<double>(), 0.0);   // not measured here (SweepOptions)
  EXPECT_EQ(t["mfu"].get<double>(), 0.0);                              // so MFU is left unknown (0)
  EXPECT_GT(t["peak_rss_bytes"].get<int64_t>(), 0);
  EXPECT_FALSE(fs::exists(dir + "/checkpoints/" + id));   // removed once the record is published
  fs::remove_all(dir);
}

TEST(SweepTrain, KilledMidVariantAndBetweenVariantsResumesToTheSameRecords) {
  const std::string clean = temp_path("clean"), crashed = temp_path("crashed");
  const std::string spec = write_spec("resume", spec_json("resume", {1, 2}));
  const std::string first = "tiny-dm32-ff64-nh2-kv16-nl1-s0", second = "tiny-dm32-ff64-nh2-kv16-nl2-s0";
  ASSERT_EQ(run(fmt::format("sweep {} --out {}", spec, clean)).exit_code, 0);

  // kill -9 after step 5 of the first variant: its checkpoint (step 3) survives, no record yet.
  testing::CommandResult r = run(fmt::format("sweep {} --out {}", spec, crashed), fmt::format("{}:5", first));
  EXPECT_TRUE(killed(r)) << r.exit_code << r.err;
  EXPECT_EQ(read_records(crashed + "/runs.jsonl").records.size(), 0u);
  EXPECT_TRUE(fs::exists(crashed + "/checkpoints/" + first + "/state.json"));
  // Rerun; kill -9 as the second variant starts: the first resumed and published exactly once.
  r = run(fmt::format("sweep {} --out {}", spec, crashed), fmt::format("{}:0", second));
  EXPECT_TRUE(killed(r)) << r.exit_code << r.err;
  records_by_id(crashed, 1);
  // Rerun to the end.
  r = run(fmt::format("sweep {} --out {}", spec, crashed));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json summary = json::parse(r.out);
  EXPECT_EQ(summary["finished"], 2);
  EXPECT_EQ(summary["ran_in_this_process"], 1);

  const auto want = records_by_id(clean, 2), got = records_by_id(crashed, 2);
  for (const std::string& id : {first, second}) {
    ASSERT_TRUE(got.count(id) && want.count(id)) << id;
    EXPECT_EQ(got.at(id)["status"], "ok");
    EXPECT_EQ(got.at(id)["quality"]["eval_loss"].get<double>(), want.at(id)["quality"]["eval_loss"].get<double>());
    EXPECT_EQ(got.at(id)["quality"]["final_train_loss"], want.at(id)["quality"]["final_train_loss"]);
    EXPECT_EQ(got.at(id)["quality"]["loss_curve"], want.at(id)["quality"]["loss_curve"]);
    EXPECT_EQ(steps_log(crashed + "/steps/" + id + ".jsonl"), steps_log(clean + "/steps/" + id + ".jsonl"));
  }
  EXPECT_EQ(got.at(first)["context"]["resumed_from_step"], 3);
  EXPECT_EQ(got.at(second)["context"]["resumed_from_step"], 0);
  fs::remove_all(clean);
  fs::remove_all(crashed);
  fs::remove(spec);
}

// A checkpoint damaged while the sweep was down (state.json's step no longer a number): the variant
// gets a failed record whose error names the file and key, and the sweep goes on to the next variant
// (the record said '[json.exception.type_error.302] type must be number, but is string').
TEST(SweepTrain, DamagedCheckpointFailsItsVariantNamingFileAndKey) {
  const std::string dir = temp_path("damaged");
  const std::string spec = write_spec("damaged", spec_json("damaged", {1, 2}));
  const std::string first = "tiny-dm32-ff64-nh2-kv16-nl1-s0";
  testing::CommandResult r = run(fmt::format("sweep {} --out {}", spec, dir), fmt::format("{}:5", first));
  ASSERT_TRUE(killed(r)) << r.exit_code << r.err;
  const std::string state_path = dir + "/checkpoints/" + first + "/state.json";
  json state = json::parse(testing::slurp(state_path));
  state["step"] = "three";
  std::ofstream(state_path) << state.dump(2);
  r = run(fmt::format("sweep {} --out {}", spec, dir));
  const auto records = records_by_id(dir, 2);
  ASSERT_TRUE(records.count(first));
  EXPECT_EQ(records.at(first)["status"], "failed");
  EXPECT_THAT(records.at(first)["error"].get<std::string>(),
              HasSubstr(state_path + ": key 'step': expected a non-negative integer, got \"three\""));
  EXPECT_EQ(records.at("tiny-dm32-ff64-nh2-kv16-nl2-s0")["status"], "ok");
  fs::remove_all(dir);
  fs::remove(spec);
}

// Ctrl-C as the first variant starts (the flag set before its first step): the real runner stops
// after step 1 with a checkpoint of step 1 (checkpoint_every is 3), the steps log ends at step 1, no
// record is written and the second variant does not start.
TEST(SweepTrain, InterruptedVariantCheckpointsItsLastStepAndHasNoRecord) {
  set_num_threads(1);
  const std::string dir = temp_path("interrupt");
  const SweepSpec spec = parse_sweep_spec(spec_json("interrupt", {1, 2}), "interrupt.json");
  const Expansion e = expand(spec);
  const std::string first = "tiny-dm32-ff64-nh2-kv16-nl1-s0", second = "tiny-dm32-ff64-nh2-kv16-nl2-s0";
  const VariantRunner real = make_training_runner();
  const VariantRunner ctrl_c_first = [&](const SweepSpec& sp, const Variant& v, const VariantContext& ctx) {
    if (v.id == first) request_interrupt();
    return real(sp, v, ctx);
  };
  const SweepSummary s = run_sweep(spec, e, ctrl_c_first, quiet(dir));
  clear_interrupt();
  EXPECT_TRUE(s.interrupted);
  EXPECT_EQ(s.interrupted_variant, first);
  EXPECT_EQ(s.interrupted_step, 1);
  EXPECT_EQ(read_records(dir + "/runs.jsonl").records.size(), 0u);
  const json state = json::parse(std::ifstream(dir + "/checkpoints/" + first + "/state.json"));
  EXPECT_EQ(state["step"], 1);
  const auto log = steps_log(dir + "/steps/" + first + ".jsonl");
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.rbegin()->first, std::make_pair(std::string("step"), int64_t(1)));
  EXPECT_FALSE(fs::exists(dir + "/steps/" + second + ".jsonl"));
  fs::remove_all(dir);
}

TEST(SweepTrain, TwoProcessesAndJobsRunEachVariantOnce) {
  const std::string dir = temp_path("two"), jobs_dir = temp_path("jobs");
  const json j = spec_json("two", {1, 2, 3, 4}, {{"budget", {{"steps", 4}}}, {"eval", {{"every", 0}}}});
  const std::string spec = write_spec("two", j);
  // Two sweeps started together on one directory.
  FILE* a = ::popen(fmt::format("{} sweep {} --out {} --quiet", T5SCALE_BINARY, spec, dir).c_str(), "r");
  FILE* b = ::popen(fmt::format("{} sweep {} --out {} --quiet", T5SCALE_BINARY, spec, dir).c_str(), "r");
  int64_t ran = 0;
  for (FILE* p : {a, b}) {
    std::string out;
    std::array<char, 4096> buf{};
    size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    EXPECT_EQ(::pclose(p), 0) << out;
    ran += json::parse(out)["ran_in_this_process"].get<int64_t>();
  }
  EXPECT_EQ(ran, 4);
  // One worker command with two processes.
  const testing::CommandResult r = run(fmt::format("sweep {} --out {} --jobs 2", spec, jobs_dir));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["finished"], 4);
  for (const std::string& d : {dir, jobs_dir}) {
    const auto records = records_by_id(d, 4);
    for (const auto& [id, rec] : records) {
      EXPECT_EQ(rec["status"], "ok") << id;
      EXPECT_EQ(rec["context"]["resumed_from_step"], 0) << id;
      EXPECT_EQ(steps_log(d + "/steps/" + id + ".jsonl").size(), 4u + 1u) << id;   // 4 steps + final eval
    }
    EXPECT_EQ(json::parse(std::ifstream(d + "/spec.json")), j);   // the spec beside the records
    EXPECT_TRUE(fs::exists(d + "/ceiling.json"));
    // The baseline of the held-out split under the sweep's span corruption (inputs 32, density 0.15, mean
    // span 3; the first seed), the number data_pipeline_test checks against an independent pass.
    SpanCorruptionConfig sc;
    sc.inputs_length = 32;
    const json baseline = json::parse(std::ifstream(d + "/baseline.json"));
    EXPECT_EQ(baseline["split"], "validation");
    EXPECT_EQ(baseline["unigram_cross_entropy"].get<double>(), unigram_baseline_nats(kCorpus, "validation", kTokenizer, sc, 0));
  }
  // Both directories trained the same variants on the same data: identical losses.
  const auto x = records_by_id(dir, 4), y = records_by_id(jobs_dir, 4);
  for (const auto& [id, rec] : x) EXPECT_EQ(rec["quality"]["eval_loss"], y.at(id)["quality"]["eval_loss"]) << id;
  fs::remove_all(dir);
  fs::remove_all(jobs_dir);
  fs::remove(spec);
}

TEST(SweepTrain, DivergedRunsAreRecordedAndTheSweepGoesOn) {
  set_num_threads(1);
  const std::string dir = temp_path("diverge");
  // AdamW at lr 1e30 moves every weight by ~1e30 in one step: activations overflow to inf/NaN.
  const SweepSpec spec = parse_sweep_spec(
      spec_json("diverge", {1, 2}, {{"optimizer", "adamw"}, {"lr", 1e30}, {"budget", {{"steps", 30}}}}), "d.json");
  const SweepSummary s = run_sweep(spec, expand(spec), make_training_runner(), quiet(dir));
  EXPECT_EQ(s.ran, 2);
  EXPECT_EQ(s.diverged, 2);
  for (const auto& [id, r] : records_by_id(dir, 2)) {
    EXPECT_EQ(r["status"], "diverged") << id;
    EXPECT_THAT(r["error"].get<std::string>(), HasSubstr("diverged at step"));
    EXPECT_TRUE(r["quality"]["eval_loss"].is_null());
    EXPECT_LT(r["budget"]["steps_done"].get<int64_t>(), 30);
  }
  fs::remove_all(dir);
}

TEST(SweepTrain, BadDataSettingsFailBeforeAnyVariantNamingTheKey) {
  const auto message = [](const json& overrides) {
    const SweepSpec spec = parse_sweep_spec(spec_json("bad", {1}, overrides), "bad.json");
    try {
      check_training_data(spec, expand(spec));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THAT(message({{"targets_length", 9}}), HasSubstr("bad.json: key 'targets_length'"));
  EXPECT_THAT(message({{"targets_length", 9}}), HasSubstr("set \"targets_length\": 8"));
  EXPECT_THAT(message({{"data", {{"corpus", "/nonexistent/corpus"}}}}), HasSubstr("key 'data.corpus'"));
  EXPECT_THAT(message({{"data", {{"tokenizer", "/nonexistent/spiece.model"}}}}), HasSubstr("key 'data.tokenizer'"));
}

}  // namespace
}  // namespace t5
