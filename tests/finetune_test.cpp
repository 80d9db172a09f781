// Fine-tuning (downstream/finetune.h, t5scale finetune): the batch layout worked by hand, the task
// stream's epochs and resume, T5's best-checkpoint rule read back from the files, a finished run read
// back instead of rerun, and a run killed (SIGKILL) mid-training or mid-validation that, rerun,
// ends with exactly the scores of an uninterrupted run.
#include <filesystem>
#include <fstream>
#include <set>

#include <cblas.h>
#include <gmock/gmock.h>
#include <omp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/data/tokenizer.h"
#include "core/error.h"
#include "core/model.h"
#include "core/names.h"
#include "downstream/finetune.h"
#include "tests/cli_runner.h"

namespace t5 {
namespace {

using nlohmann::json;
using testing::ScratchDir;
namespace fs = std::filesystem;

// One OpenMP thread: tiny models on a loaded 2-core machine run ~10x slower with spinning threads.
const int kOneThread = [] {
  omp_set_num_threads(1);
  openblas_set_num_threads(1);
  return 1;
}();

const std::string kTokenizer = std::string(T5SCALE_SOURCE_DIR) + "/tests/fixtures/data/spiece.model";

// A sentiment-like toy task the test writes itself: a sentence with one polar word among fillers.
void write_toy_task(const fs::path& dir, int train, int validation, int test) {
  fs::create_directories(dir);
  const std::vector<std::string> pos = {"good", "great", "love", "best"}, neg = {"bad", "awful", "hate", "worst"},
                                  fill = {"the", "film", "was", "and", "it", "really", "so"};
  uint64_t state = 12345;
  auto next = [&](uint64_t n) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (state >> 33) % n;
  };
  for (const auto& [split, n] : std::vector<std::pair<std::string, int>>{{"train", train}, {"validation", validation},
                                                                         {"test", test}}) {
    std::ofstream out(dir / (split + ".jsonl"));
    for (int i = 0; i < n; ++i) {
      const bool positive = next(2) == 0;
      std::string text = "sentiment:";
      const size_t at = next(5);
      for (size_t k = 0; k < 5; ++k) {
        if (k == at) text += " " + (positive ? pos : neg)[next(4)];
        text += " " + fill[next(fill.size())];
      }
      out << json{{"inputs", text}, {"targets", positive ? "positive" : "negative"}}.dump() << "\n";
    }
  }
}

Shape tiny_shape() {
  Shape s;
  s.el = 1;
  s.dl = 1;
  s.dm = 32;
  s.ff = 64;
  s.kv = 8;
  s.nh = 2;
  s.vocab_size = 1152;   // the fixture tokenizer's 1,000 pieces + 100 sentinels, rounded up to 128
  return s;
}

FinetuneConfig toy_config(const ScratchDir& tmp, const std::string& out) {
  FinetuneConfig c;
  c.task = "sentiment";
  c.task_dir = tmp.path("tasks/sentiment");
  c.tokenizer = kTokenizer;
  c.out_dir = tmp.path(out);
  c.steps = 30;
  c.batch = 8;
  c.inputs_length = 24;
  c.targets_length = 8;   // "positive" is several pieces of the fixture's 1,000-piece vocabulary
  c.eval_every = 10;
  c.schedule.lr = 1e-2;
  c.schedule.kind = ScheduleKind::constant;
  c.dropout = 0.1;
  c.seed = 3;
  return c;
}

TEST(MakeTaskBatch, LaysOutInputsShiftedTargetsAndPaddingByHand) {
  const TokenizedExample a{{5, 6, 1}, {7, 1}}, b{{9, 1}, {4, 3, 1}};
  const Batch batch = make_task_batch({&a, &b}, 4, 3);
  EXPECT_EQ(batch.batch, 2);
  EXPECT_EQ(batch.input_ids, (std::vector<int32_t>{5, 6, 1, 0, 9, 1, 0, 0}));
  EXPECT_EQ(batch.encoder_segment_ids, (std::vector<int32_t>{1, 1, 1, 0, 1, 1, 0, 0}));
  // Decoder inputs: the start id 0, then the targets shifted right by one.
  EXPECT_EQ(batch.decoder_input_ids, (std::vector<int32_t>{0, 7, 0, 0, 4, 3}));
  EXPECT_EQ(batch.decoder_segment_ids, (std::vector<int32_t>{1, 1, 0, 1, 1, 1}));
  EXPECT_EQ(batch.labels, (std::vector<int32_t>{7, 1, kIgnoreLabel, 4, 3, 1}));
  EXPECT_EQ(batch.label_tokens(), 5);
  const TokenizedExample too_long{{1, 2, 3, 4, 1}, {1}};
  EXPECT_THROW(make_task_batch({&too_long}, 4, 3), Error);
}

TEST(TaskBatchSource, EveryEpochVisitsEveryExampleOnceAndSeekResumesExactly) {
  auto examples = std::make_shared<std::vector<TokenizedExample>>();
  for (int32_t i = 0; i < 10; ++i) examples->push_back({{100 + i, 1}, {200 + i, 1}});
  TaskBatchSource source(examples, "toy", 5, 2, 2, 7);
  std::multiset<int32_t> first_epoch, second_epoch;
  std::vector<int32_t> order;
  for (int k = 0; k < 4; ++k) {
    const Batch b = source.next();
    for (int r = 0; r < 5; ++r) (k < 2 ? first_epoch : second_epoch).insert(b.input_ids[size_t(r * 2)]), order.push_back(b.input_ids[size_t(r * 2)]);
  }
  const std::multiset<int32_t> all = {100, 101, 102, 103, 104, 105, 106, 107, 108, 109};
  EXPECT_EQ(first_epoch, all);
  EXPECT_EQ(second_epoch, all);
  EXPECT_NE(std::vector<int32_t>(order.begin(), order.begin() + 10), std::vector<int32_t>(order.begin() + 10, order.end()))
      << "each epoch is shuffled anew";

  // A source seeked to a saved position continues with the same batches.
  TaskBatchSource a(examples, "toy", 3, 2, 2, 7);
  a.next();
  a.next();
  a.next();
  const json at = a.position();
  const Batch expected = a.next();
  TaskBatchSource b(examples, "toy", 3, 2, 2, 7);
  b.seek(at);
  EXPECT_EQ(b.next().input_ids, expected.input_ids);
  EXPECT_EQ(at, (json{{"epoch", 0}, {"index", 9}}));
  EXPECT_THROW(b.seek(json{{"epoch", 0}, {"index", 11}}), Error);
  EXPECT_THROW(b.seek(json{{"epoch", "x"}}), Error);
  // Another seed, another order.
  TaskBatchSource c(examples, "toy", 10, 2, 2, 8);
  TaskBatchSource d(examples, "toy", 10, 2, 2, 7);
  EXPECT_NE(c.next().input_ids, d.next().input_ids);
}

TEST(LoadTaskSplit, CutsLongSequencesAndEndsEachWithEos) {
  ScratchDir tmp("t5_finetune_split");
  std::ofstream(tmp.path("train.jsonl")) << R"({"inputs": "the film was so good and it was really the best", "targets": "positive"})"
                                         << "\n";
  const Tokenizer tok(kTokenizer);
  const TokenizedSplit s = load_task_split(tmp.dir().string(), "train", tok, 4, 8);
  ASSERT_EQ(s.examples.size(), 1u);
  EXPECT_EQ(s.examples[0].inputs.size(), 4u);
  EXPECT_EQ(s.examples[0].inputs.back(), kEosId);
  std::vector<int32_t> target = tok.encode("positive");
  target.push_back(kEosId);
  EXPECT_EQ(s.examples[0].targets, target);
  EXPECT_EQ(s.truncated_inputs, 1);
  EXPECT_EQ(s.truncated_targets, 0);
  EXPECT_EQ(s.targets_text[0], "positive");
}

// Reads the run's files back and checks T5's rule against them: the best step is the first step with
// the best validation score, and the test score is what the saved predictions give.
TEST(Finetune, KeepsTheBestValidationStepAndScoresTheTestSplitThere) {
  ScratchDir tmp("t5_finetune_rule");
  write_toy_task(tmp.dir() / "tasks" / "sentiment", 160, 32, 40);
  Model model(tiny_shape());
  init_params(model, 1);
  const FinetuneConfig config = toy_config(tmp, "run");
  const FinetuneResult r = finetune(model, config);
  ASSERT_EQ(r.validations.size(), 3u);
  EXPECT_EQ(r.validations[0].step, 10);
  EXPECT_EQ(r.validations[2].step, 30);
  double best = -1;
  int64_t best_step = 0;
  for (const auto& v : r.validations)
    if (v.metrics.at("accuracy") > best) best = v.metrics.at("accuracy"), best_step = v.step;
  EXPECT_EQ(r.best_step, best_step);
  EXPECT_EQ(r.best_validation.at("accuracy"), best);
  // The test score is the share of saved predictions equal to their targets.
  std::ifstream preds(tmp.path("run/predictions.jsonl"));
  std::string line;
  int n = 0, right = 0;
  while (std::getline(preds, line)) {
    const json j = json::parse(line);
    ++n;
    right += j["prediction"] == j["targets"];
  }
  EXPECT_EQ(n, 40);
  EXPECT_DOUBLE_EQ(r.test.at("accuracy"), double(right) / 40.0);
  EXPECT_EQ(r.train_examples, 160);
  EXPECT_TRUE(fs::exists(tmp.path("run/best/model.safetensors")));

  // A finished run is read back, not run again; other settings in the same directory are refused.
  Model again(tiny_shape());
  const FinetuneResult back = finetune(again, config);
  EXPECT_EQ(back.test, r.test);
  EXPECT_EQ(back.best_step, r.best_step);
  FinetuneConfig other = config;
  other.steps = 40;
  EXPECT_THROW(finetune(again, other), Error);
}

// Pretrained weights are what fine-tuning starts from: a model trained on the task already, fine-tuned
// for a few more steps at a tiny learning rate, keeps scoring what it scored.
TEST(Finetune, StartsFromTheWeightsItIsGiven) {
  ScratchDir tmp("t5_finetune_start");
  write_toy_task(tmp.dir() / "tasks" / "sentiment", 160, 32, 40);
  Model model(tiny_shape());
  init_params(model, 1);
  FinetuneConfig first = toy_config(tmp, "first");
  first.steps = 120;
  first.eval_every = 0;
  first.dropout = 0;
  const FinetuneResult trained = finetune(model, first);
  EXPECT_GT(trained.test.at("accuracy"), 0.8) << "the toy task is learnable in 120 steps";
  FinetuneConfig second = toy_config(tmp, "second");
  second.steps = 2;
  second.eval_every = 0;
  second.schedule.lr = 1e-6;
  const FinetuneResult kept = finetune(model, second);
  EXPECT_NEAR(kept.test.at("accuracy"), trained.test.at("accuracy"), 0.051);
}

class FinetuneCli : public ::testing::Test {
 protected:
  void SetUp() override {
    write_toy_task(tmp.dir() / "tasks" / "sentiment", 96, 24, 24);
    std::ofstream(tmp.path("shape.json")) << shape_to_json(tiny_shape()).dump();
  }
  std::string args(const std::string& out, const std::string& task = "sentiment", const std::string& lr = "0.01") const {
    return "finetune --model " + tmp.path("shape.json") + " --task " + task + " --tasks-dir " + tmp.path("tasks") +
           " --tokenizer " + kTokenizer + " --out " + tmp.path(out) +
           " --steps 24 --batch 8 --inputs-length 24 --targets-length 8 --eval-every 8 --lr " + lr +
           " --seed 2 --threads 1";
  }
  static json result(const testing::CommandResult& r) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const json j = json::parse(r.out);
    return {j["best_step"], j["best_validation"], j["test"], j["validations"].size(), j["final_train_loss"]};
  }
  ScratchDir tmp{"t5_finetune_cli"};
};

TEST_F(FinetuneCli, AKilledRunRerunEndsWithTheScoresOfAnUninterruptedOne) {
  const json whole = result(testing::t5scale(args("whole")));
  // Killed mid-training (step 13, between validations) and killed after a validation's best weights
  // were saved but before its state was: both reruns must end exactly where the whole run did.
  const std::vector<std::pair<std::string, int64_t>> kills = {{"finetune-sentiment:13", 8},
                                                               {"finetune-sentiment-validation:16", 16}};
  for (size_t k = 0; k < kills.size(); ++k) {
    const auto& [kill_at, resumed_from] = kills[k];
    const std::string out = "killed-" + std::to_string(k);
    testing::CommandResult killed;
    {
      testing::ScopedEnv env({{"T5SCALE_TEST_KILL_AT", kill_at}});
      killed = testing::t5scale(args(out));
    }
    EXPECT_NE(killed.exit_code, 0) << kill_at;
    EXPECT_FALSE(fs::exists(tmp.path(out + "/finetune.json"))) << kill_at;
    const testing::CommandResult rerun = testing::t5scale(args(out));
    EXPECT_EQ(result(rerun), whole) << kill_at << "\n" << rerun.err;
    EXPECT_EQ(json::parse(rerun.out)["resumed_from"], resumed_from) << kill_at;
  }
}

TEST_F(FinetuneCli, BadInputIsOneLineNamingThePlace) {
  testing::expect_one_line_error(testing::t5scale(args("x", "nonsense")), "finetune", "nonsense");
  testing::expect_one_line_error(
      testing::t5scale("finetune --model " + tmp.path("shape.json") + " --task sentiment --tasks-dir " +
                       tmp.path("nowhere") + " --tokenizer " + kTokenizer + " --out " + tmp.path("y")),
      "finetune", "nowhere/sentiment/train.jsonl does not exist");
  EXPECT_FALSE(fs::exists(tmp.path("y")));
  testing::expect_one_line_error(testing::t5scale(args("z") + " --beam 0"), "finetune", "--beam");
  // A directory holding a run of other settings is refused, not mixed.
  ASSERT_EQ(testing::t5scale(args("done")).exit_code, 0);
  testing::expect_one_line_error(testing::t5scale(args("done", "sentiment", "0.02")), "finetune", "other settings");
}

}  // namespace
}  // namespace t5
