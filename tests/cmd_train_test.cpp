// `t5scale train` end to end: its JSON Lines records equal a direct t5::train() call with the same
// settings (same losses, learning rates, eval losses), the summary is computed from those records,
// and an existing checkpoint is neither overwritten without --resume nor ignored with it.
#include <unistd.h>

#include <cblas.h>
#include <omp.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/model.h"
#include "core/synthetic_data.h"
#include "core/trainer.h"

namespace t5 {
namespace {

namespace fs = std::filesystem;

std::vector<nlohmann::json> read_lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(CmdTrain, RecordsEqualLibraryTrainAndResumeIsGuarded) {
  omp_set_num_threads(1);   // the command below runs with OMP_NUM_THREADS=1 too: same arithmetic
  openblas_set_num_threads(1);
  const fs::path dir = fs::temp_directory_path() / fmt::format("t5scale-cmd-train-{}", getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "shape.json") << R"({"el": 1, "dl": 2, "dm": 32, "ff": 64, "kv": 8, "nh": 2, "vocab_size": 40})";
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

  nlohmann::json summary;
  std::ifstream(dir / "out.json") >> summary;
  EXPECT_EQ(summary, records.back());
  EXPECT_DOUBLE_EQ(summary["final_loss"].get<double>(), r.steps.back().loss);
  EXPECT_DOUBLE_EQ(summary["eval_loss"].get<double>(), r.evals.back().loss);
  double tokens = 0, seconds = 0;
  for (const auto& s : steps) {
    tokens += s["tokens"].get<double>();
    seconds += s["seconds"].get<double>();
  }
  EXPECT_NEAR(summary["tokens_per_second"].get<double>(), tokens / seconds, 1e-9 * tokens / seconds);

  // Without --resume an existing checkpoint is refused; with it the run continues at step 7.
  const std::string again = common + fmt::format(" --steps 8 > /dev/null 2> {}", (dir / "err2.txt").string());
  EXPECT_NE(std::system(again.c_str()), 0);
  const std::string resume = common + fmt::format(" --steps 8 --resume --json-out {} > /dev/null 2>&1",
                                                  (dir / "m2.jsonl").string());
  ASSERT_EQ(std::system(resume.c_str()), 0);
  const auto more = read_lines((dir / "m2.jsonl").string());
  ASSERT_FALSE(more.empty());
  EXPECT_EQ(more.front()["step"], 7);
  EXPECT_EQ(more.back()["resumed_from"], 6);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace t5
