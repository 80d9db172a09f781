// `t5scale train` end to end: its JSON Lines records equal a direct t5::train() call with the same
// settings (same losses, learning rates, eval losses), the summary is computed from those records,
// an existing checkpoint is neither overwritten without --resume nor ignored with it, a resumed
// run's --json-out holds the whole run once, and Ctrl-C saves the last finished step.
#include <sys/wait.h>
#include <unistd.h>

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/model.h"
#include "core/synthetic_data.h"
#include "core/trainer.h"
#include "tests/cli_runner.h"

namespace t5 {
namespace {

namespace fs = std::filesystem;

std::vector<nlohmann::json> read_lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// A fresh scratch directory holding shape.json (a 1-encoder-layer model of `dl` decoder layers, V 40).
fs::path scratch_with_shape(const std::string& name, int dl) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("t5scale-{}-{}", name, getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "shape.json") << fmt::format(
      R"({{"el": 1, "dl": {}, "dm": 32, "ff": 64, "kv": 8, "nh": 2, "vocab_size": 40}})", dl);
  return dir;
}

TEST(CmdTrain, RecordsEqualLibraryTrainAndResumeIsGuarded) {
  omp_set_num_threads(1);   // the command below runs with OMP_NUM_THREADS=1 too: same arithmetic
  openblas_set_num_threads(1);
  const fs::path dir = scratch_with_shape("cmd-train", 2);
  const std::string common = fmt::format(
      "OMP_NUM_THREADS=1 {} train --model {} --batch 4 --inputs-length 7 --targets-length 6 --optimizer adamw "
      "--schedule cosine --lr 0.003 --warmup 2 --eval-every 3 --eval-batches 2 --seed 5 --init-seed 9 "
      "--synthetic-vocab 30 --checkpoint-dir {}",
      T5SCALE_BINARY, (dir / "shape.json").string(), (dir / "ckpt").string());
  const std::string cmd = common + fmt::format(" --steps 6 --json-out {} > {} 2> {}", (dir / "m.jsonl").string(),
                                               (dir / "out.json").string(), (dir / "err.txt").string());
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const auto records = read_lines((dir / "m.jsonl").string());

  // The same run through the library.
  Model model(shape_from_json(nlohmann::json::parse(R"({"el": 1, "dl": 2, "dm": 32, "ff": 64, "kv": 8, "nh": 2,
                                                        "vocab_size": 40})"), "test"));
  init_params(model, 9);
  SyntheticConfig sc;
  sc.vocab_size = 30;
  sc.length = 5;
  sc.inputs_length = 7;
  sc.targets_length = 6;
  auto train_data = make_synthetic_source(sc, 4, 5);
  auto eval_data = make_synthetic_source(sc, 4, 5 ^ 0x5eedf00dull);
  TrainConfig c;
  c.steps = 6;
  c.batch = 4;
  c.optimizer.name = "adamw";
  c.schedule = {ScheduleKind::cosine, 0.003, 2, 6, 0.0};
  c.eval_every = 3;
  c.eval_batches = 2;
  c.seed = 5;
  const TrainResult r = train(model, *train_data, eval_data.get(), c);

  std::vector<nlohmann::json> steps, evals;
  for (const auto& j : records) (j["type"] == "step" ? steps : j["type"] == "eval" ? evals : steps).push_back(j);
  ASSERT_EQ(records.back()["type"], "summary");
  steps.pop_back();   // the summary
  ASSERT_EQ(steps.size(), r.steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    EXPECT_EQ(steps[i]["step"], r.steps[i].step);
    EXPECT_DOUBLE_EQ(steps[i]["loss"].get<double>(), r.steps[i].loss) << i;
    EXPECT_DOUBLE_EQ(steps[i]["lr"].get<double>(), r.steps[i].lr) << i;
    EXPECT_EQ(steps[i]["tokens"], 4 * (7 + 6));
  }
  EXPECT_DOUBLE_EQ(steps[1]["lr"].get<double>(), 0.003);   // end of the 2-step warm-up
  ASSERT_EQ(evals.size(), 2u);
  EXPECT_DOUBLE_EQ(evals[1]["loss"].get<double>(), r.evals[1].loss);
  EXPECT_DOUBLE_EQ(evals[1]["negative_log_perplexity"].get<double>(), -r.evals[1].loss);
  EXPECT_DOUBLE_EQ(evals[1]["standard_error"].get<double>(), r.evals[1].loss_standard_error);
  EXPECT_EQ(evals[1]["batches"], 2);
  // Label tokens of an evaluation by hand: 2 batches x 4 examples x (5 copied tokens + EOS), no padding.
  EXPECT_EQ(evals[0]["tokens"], 2 * 4 * (5 + 1));
  EXPECT_EQ(evals[1]["tokens"], 2 * 4 * (5 + 1));

  nlohmann::json summary;
  std::ifstream(dir / "out.json") >> summary;
  EXPECT_EQ(summary, records.back());
  EXPECT_DOUBLE_EQ(summary["final_loss"].get<double>(), r.steps.back().loss);
  EXPECT_DOUBLE_EQ(summary["eval_loss"].get<double>(), r.evals.back().loss);
  EXPECT_DOUBLE_EQ(summary["eval_loss_standard_error"].get<double>(), r.evals.back().loss_standard_error);
  double tokens = 0, seconds = 0;
  for (const auto& s : steps) {
    tokens += s["tokens"].get<double>();
    seconds += s["seconds"].get<double>();
  }
  EXPECT_NEAR(summary["tokens_per_second"].get<double>(), tokens / seconds, 1e-9 * tokens / seconds);
  EXPECT_EQ(tokens, 6 * 4 * (7 + 6));
  EXPECT_GE(summary["seconds"].get<double>(), seconds);   // the run's wall time holds every step's
  // The first stderr line's parameter count, by hand (SPEC §2; dm 32, ff 64, inner 2*8 = 16, V 40):
  // 40*32 + (4*32*16 + 2*32*64 + 2*32) + 2*(8*32*16 + 2*32*64 + 3*32) + 2*32*2 + 2*32
  // = 1,280 + 6,208 + 2*8,288 + 128 + 64 = 24,256.
  std::ifstream err(dir / "err.txt");
  std::string first_line;
  std::getline(err, first_line);
  EXPECT_THAT(first_line, ::testing::HasSubstr(": 24256 parameters; ")) << first_line;

  // Without --resume an existing checkpoint is refused; with it the run continues at step 7.
  const std::string again = common + fmt::format(" --steps 8 > /dev/null 2> {}", (dir / "err2.txt").string());
  const int status = std::system(again.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  std::ifstream err2(dir / "err2.txt");
  std::string line, rest;
  std::getline(err2, line);
  EXPECT_EQ(line, fmt::format("t5scale train: error: --checkpoint-dir {}: already holds a checkpoint (hint: pass "
                              "--resume to continue it, or choose another directory)",
                              (dir / "ckpt").string()));
  EXPECT_FALSE(std::getline(err2, rest)) << rest;   // one line only
  // Resumed into the same --json-out, the log keeps steps 1-6 as written (without the old summary) and
  // goes on with 7, 8, the final eval at 8 and one new summary: the file holds the whole run once.
  const std::string resume = common + fmt::format(" --steps 8 --resume --json-out {} > /dev/null 2>&1",
                                                  (dir / "m.jsonl").string());
  ASSERT_EQ(std::system(resume.c_str()), 0);
  const auto more = read_lines((dir / "m.jsonl").string());
  const std::vector<nlohmann::json> before(records.begin(), records.end() - 1);
  ASSERT_EQ(more.size(), before.size() + 4);
  EXPECT_EQ(std::vector<nlohmann::json>(more.begin(), more.begin() + std::ptrdiff_t(before.size())), before);
  EXPECT_EQ(more[before.size()]["step"], 7);
  EXPECT_EQ(more[before.size() + 1]["step"], 8);
  EXPECT_EQ(more[before.size() + 2]["type"], "eval");
  EXPECT_EQ(more.back()["type"], "summary");
  EXPECT_EQ(more.back()["resumed_from"], 6);
  EXPECT_EQ(more.back()["steps"], 8);
  // Resuming with fewer steps than the checkpoint already has is one line, not a "finished" run that
  // reports 8 steps for --steps 5 and no training loss.
  const std::string fewer = common + fmt::format(" --steps 5 --resume > {} 2> {}", (dir / "out3.txt").string(),
                                                 (dir / "err3.txt").string());
  const int fewer_status = std::system(fewer.c_str());
  EXPECT_TRUE(WIFEXITED(fewer_status) && WEXITSTATUS(fewer_status) == 1) << fewer_status;
  std::ifstream err3(dir / "err3.txt");
  std::string err3_text((std::istreambuf_iterator<char>(err3)), std::istreambuf_iterator<char>());
  EXPECT_THAT(err3_text, ::testing::EndsWith(fmt::format(
                             "t5scale train: error: {}/state.json: the checkpoint is at step 8, past the 5 steps asked "
                             "for (hint: ask for at least 8 steps, or use another checkpoint directory)\n",
                             (dir / "ckpt").string())));
  EXPECT_EQ(std::count(err3_text.begin(), err3_text.end(), '\n'), 2) << err3_text;   // the opening line + the error
  EXPECT_EQ(fs::file_size(dir / "out3.txt"), 0u);
  fs::remove_all(dir);
}

// Ctrl-C (SIGINT) once --json-out shows steps: exit 130, the opening line and one line saying where
// it stopped, nothing on stdout, --json-out without a summary, the checkpoint at the last logged step;
// --resume continues from there.
TEST(CmdTrain, CtrlCCheckpointsTheLastStepAndExits130) {
  const fs::path dir = scratch_with_shape("cmd-train-ctrlc", 2);
  const std::string ckpt = (dir / "ckpt").string(), log = (dir / "m.jsonl").string();
  std::vector<std::string> args = {"train", "--model", (dir / "shape.json").string(), "--steps", "20000",
                                   "--batch", "4", "--inputs-length", "7", "--targets-length", "6",
                                   "--synthetic-vocab", "30", "--checkpoint-dir", ckpt, "--json-out", log};
  testing::RunningCommand run(args);
  ASSERT_TRUE(testing::wait_for_steps({log}));
  ASSERT_EQ(::kill(run.pid(), SIGINT), 0);
  const testing::CommandResult r = run.wait();
  EXPECT_EQ(r.exit_code, 130) << r.err;
  const int64_t n = testing::last_logged_step(log);
  ASSERT_GT(n, 0);
  ASSERT_LT(n, 20000) << "the run finished before the signal";
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(testing::lines(r.err), 2) << r.err;
  EXPECT_THAT(r.err, ::testing::EndsWith(fmt::format(
                         "\ntrain: interrupted at step {}; rerun the same command with --resume to continue\n", n)));
  EXPECT_EQ(read_lines(log).back()["type"], "step");
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(ckpt + "/state.json"))["step"], n);

  args[4] = std::to_string(n + 2);
  args.push_back("--resume");
  testing::RunningCommand resumed(args);
  const testing::CommandResult more = resumed.wait();
  ASSERT_EQ(more.exit_code, 0) << more.err;
  const nlohmann::json summary = nlohmann::json::parse(more.out);
  EXPECT_EQ(summary["resumed_from"], n);
  EXPECT_EQ(summary["steps"], n + 2);
  fs::remove_all(dir);
}

// The progress line (stderr, forced with --progress when stderr is not a terminal): one per step here,
// "step k/N  loss L  lr X  S steps/s  R tok/s  ETA E". Loss and lr are the step records'; the rate is
// tokens done over wall time, so never above tokens over the summed step times, and the step rate is
// that rate over the tokens per step (every step has the same); the ETA is the elapsed time that rate
// implies, per step, times the steps left (0s at the end).
TEST(CmdTrain, ProgressLineHasLossRateAndEta) {
  const fs::path dir = scratch_with_shape("cmd-train-progress", 1);
  const std::string cmd = fmt::format(
      "OMP_NUM_THREADS=1 {} train --model {} --batch 4 --inputs-length 7 --targets-length 6 --steps 5 --lr 0.01 "
      "--synthetic-vocab 30 --progress --json-out {} > /dev/null 2> {}",
      T5SCALE_BINARY, (dir / "shape.json").string(), (dir / "m.jsonl").string(), (dir / "err.txt").string());
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::vector<nlohmann::json> steps;
  for (const auto& j : read_lines((dir / "m.jsonl").string()))
    if (j["type"] == "step") steps.push_back(j);
  ASSERT_EQ(steps.size(), 5u);
  std::ifstream err(dir / "err.txt");
  int64_t seen = 0;
  double tokens = 0, step_seconds = 0;
  for (std::string line; std::getline(err, line);) {
    if (line.rfind("step ", 0) != 0) continue;
    long long k = 0, total = 0;
    double loss = 0, lr = 0, step_rate = 0, rate = 0;
    char eta[32] = {};
    ASSERT_EQ(std::sscanf(line.c_str(), "step %lld/%lld  loss %lf  lr %lf  %lf steps/s  %lf tok/s  ETA %31s", &k,
                          &total, &loss, &lr, &step_rate, &rate, eta),
              7)
        << line;
    ASSERT_EQ(k, ++seen) << line;
    EXPECT_EQ(total, 5);
    const nlohmann::json& rec = steps[size_t(k - 1)];
    EXPECT_NEAR(loss, rec["loss"].get<double>(), 5e-5) << line;
    EXPECT_NEAR(lr, rec["lr"].get<double>(), 5e-3 * rec["lr"].get<double>()) << line;
    tokens += rec["tokens"].get<double>();
    step_seconds += rec["seconds"].get<double>();
    EXPECT_GT(rate, 0.0) << line;
    EXPECT_LE(rate, tokens / step_seconds * 1.001 + 0.5) << line;
    // The step rate shown to 3 significant digits (to the unit from 100), the token rate to the unit.
    EXPECT_NEAR(step_rate * rec["tokens"].get<double>(), rate, 5e-3 * rate + rec["tokens"].get<double>()) << line;
    const double elapsed = tokens / std::max(rate, 1.0);
    const double expected_eta = elapsed / double(k) * double(total - k);
    if (expected_eta < 30) {   // shown as whole seconds
      int secs = -1;
      ASSERT_EQ(std::sscanf(eta, "%ds", &secs), 1) << line;
      EXPECT_NEAR(secs, expected_eta, 1.0 + 0.01 * expected_eta) << line;
    }
    if (k == total) {
      EXPECT_STREQ(eta, "0s");
    }
  }
  EXPECT_EQ(seen, 5);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace t5
