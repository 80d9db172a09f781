// The training loop: the synthetic task, bit-identical resume, an interrupt checkpointing the last
// finished step, gradient accumulation, divergence detection, and the learning test (a tiny T5 must learn to copy short sequences).
#include <chrono>
#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>
#include <cblas.h>
#include <omp.h>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/interrupt.h"
#include "core/model.h"
#include "core/synthetic_data.h"
#include "core/shape.h"
#include "core/trainer.h"

namespace t5 {
namespace {

namespace fs = std::filesystem;

// One OpenMP thread: these tests check learning and bit-identity, not speed, and on a loaded
// 2-core machine spinning OpenMP threads make tiny models ~10x slower.
const int kOneThread = [] {
  omp_set_num_threads(1);
  openblas_set_num_threads(1);   // the OpenMP build of OpenBLAS keeps its own thread count
  return 1;
}();

Shape tiny_shape(int64_t vocab = 64) {
  Shape s;
  s.name = "trainer-test";
  s.el = 2;
  s.dl = 2;
  s.dm = 64;
  s.ff = 128;
  s.kv = 16;
  s.nh = 4;
  s.vocab_size = vocab;
  return s;
}

std::string temp_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / fmt::format("t5scale-trainer-{}-{}", name, getpid());
  fs::remove_all(p);
  return p.string();
}

TrainConfig small_config(int64_t steps) {
  TrainConfig c;
  c.steps = steps;
  c.batch = 8;
  c.optimizer.name = "adafactor";
  c.schedule.kind = ScheduleKind::constant;
  c.schedule.lr = 0.01;
  c.seed = 3;
  return c;
}

SyntheticConfig copy_task() {
  SyntheticConfig c;
  c.vocab_size = 64;
  c.length = 8;
  return c;
}

// N steps straight == N/2 steps, checkpoint, a fresh process-like restart, N/2 more: same bits.
TEST(Trainer, ResumeIsBitIdentical) {
  const int64_t n = 6;
  Model straight(tiny_shape());
  init_params(straight, 11);
  {
    auto data = make_synthetic_source(copy_task(), 8, 5);
    train(straight, *data, nullptr, small_config(n));
  }
  const std::string dir = temp_dir("resume");
  TrainConfig half = small_config(n / 2);
  half.checkpoint_dir = dir;
  half.z_loss = 1e-4;
  TrainConfig full = small_config(n);
  full.checkpoint_dir = dir;
  full.z_loss = 1e-4;
  {
    Model m(tiny_shape());
    init_params(m, 11);
    auto data = make_synthetic_source(copy_task(), 8, 5);
    const TrainResult r = train(m, *data, nullptr, half);
    EXPECT_EQ(r.final_step, n / 2);
    EXPECT_TRUE(is_training_checkpoint(dir));
  }
  Model resumed(tiny_shape());   // fresh weights: all must come from the checkpoint
  init_params(resumed, 99);
  auto data = make_synthetic_source(copy_task(), 8, 5);
  const TrainResult r = train(resumed, *data, nullptr, full);
  EXPECT_EQ(r.resumed_from, n / 2);
  EXPECT_EQ(r.final_step, n);
  ASSERT_EQ(r.steps.size(), size_t(n / 2));
  EXPECT_EQ(r.steps.front().step, n / 2 + 1);
  // z-loss differs from the straight run's (0), so compare against a straight run with z-loss too.
  Model straight_z(tiny_shape());
  init_params(straight_z, 11);
  TrainConfig full_z = small_config(n);
  full_z.z_loss = 1e-4;
  auto data_z = make_synthetic_source(copy_task(), 8, 5);
  train(straight_z, *data_z, nullptr, full_z);
  EXPECT_EQ(0, std::memcmp(straight_z.params(), resumed.params(), sizeof(float) * size_t(resumed.num_params())));
  EXPECT_NE(0, std::memcmp(straight.params(), resumed.params(), sizeof(float) * size_t(resumed.num_params())));

  // A checkpoint from another optimizer configuration is refused.
  TrainConfig other = full;
  other.optimizer.name = "adamw";
  Model m(tiny_shape());
  auto d = make_synthetic_source(copy_task(), 8, 5);
  EXPECT_THROW(train(m, *d, nullptr, other), Error);
  fs::remove_all(dir);
}

// sh and skv shapes through the training checkpoint (config.json carries shared_kv/shared_heads, the
// weights file the tied tensors once): N/2 steps, checkpoint, fresh model, N/2 more = N straight, bit
// for bit; the checkpoint is refused by the same shape without the flags (another parameter table).
TEST(Trainer, SharingShapesResumeBitIdentically) {
  const int64_t n = 4;
  Shape shared = tiny_shape();
  shared.shared_kv = shared.shared_heads = true;
  Model straight(shared);
  init_params(straight, 11);
  {
    auto data = make_synthetic_source(copy_task(), 8, 5);
    train(straight, *data, nullptr, small_config(n));
  }
  const std::string dir = temp_dir("resume-sharing");
  TrainConfig half = small_config(n / 2), full = small_config(n);
  half.checkpoint_dir = full.checkpoint_dir = dir;
  {
    Model m(shared);
    init_params(m, 11);
    auto data = make_synthetic_source(copy_task(), 8, 5);
    train(m, *data, nullptr, half);
  }
  const Shape saved = load_shape_file(dir + "/config.json");
  EXPECT_TRUE(saved.shared_kv && saved.shared_heads);
  Model resumed(shared);
  init_params(resumed, 99);
  auto data = make_synthetic_source(copy_task(), 8, 5);
  const TrainResult r = train(resumed, *data, nullptr, full);
  EXPECT_EQ(r.resumed_from, n / 2);
  EXPECT_EQ(0, std::memcmp(straight.params(), resumed.params(), sizeof(float) * size_t(resumed.num_params())));
  Model plain(tiny_shape());
  auto d = make_synthetic_source(copy_task(), 8, 5);
  EXPECT_THROW(train(plain, *d, nullptr, full), Error);
  fs::remove_all(dir);
}

// Ctrl-C (core/interrupt.h) after step 3 of 10 with checkpoints every 5: the step finishes, the
// checkpoint holds step 3 (not 0), Interrupted says so, and resuming reaches the same bits as a run
// never interrupted. A request after the last step lets the run finish normally.
TEST(Trainer, InterruptCheckpointsTheLastFinishedStep) {
  const int64_t n = 10, stop_at = 3;
  const std::string dir = temp_dir("interrupt");
  TrainConfig c = small_config(n);
  c.checkpoint_dir = dir;
  c.checkpoint_every = 5;
  int64_t last_step = 0;
  {
    Model m(tiny_shape());
    init_params(m, 11);
    auto data = make_synthetic_source(copy_task(), 8, 5);
    clear_interrupt();
    try {
      train(m, *data, nullptr, c, [&](const StepMetrics& s) {
        last_step = s.step;
        if (s.step == stop_at) request_interrupt();
      });
      ADD_FAILURE() << "train() returned instead of throwing Interrupted";
    } catch (const Interrupted& e) {
      EXPECT_EQ(e.step(), stop_at);
      EXPECT_TRUE(e.saved());
    }
    clear_interrupt();
  }
  EXPECT_EQ(last_step, stop_at);   // no step ran after the request
  ASSERT_TRUE(is_training_checkpoint(dir));
  Model probe(tiny_shape());
  EXPECT_EQ(load_training_checkpoint(dir, probe.table(), probe.params()).state.at("step").get<int64_t>(), stop_at);

  Model resumed(tiny_shape());
  init_params(resumed, 99);
  auto data = make_synthetic_source(copy_task(), 8, 5);
  const TrainResult r = train(resumed, *data, nullptr, c);
  EXPECT_EQ(r.resumed_from, stop_at);
  EXPECT_EQ(r.final_step, n);
  Model straight(tiny_shape());
  init_params(straight, 11);
  auto straight_data = make_synthetic_source(copy_task(), 8, 5);
  train(straight, *straight_data, nullptr, small_config(n));
  EXPECT_EQ(0, std::memcmp(straight.params(), resumed.params(), sizeof(float) * size_t(resumed.num_params())));

  // Requested during the last step: nothing left to save for later, the run completes.
  TrainConfig last = small_config(2);
  Model m(tiny_shape());
  init_params(m, 11);
  auto d = make_synthetic_source(copy_task(), 8, 5);
  const TrainResult done = train(m, *d, nullptr, last, [&](const StepMetrics& s) {
    if (s.step == 2) request_interrupt();
  });
  clear_interrupt();
  EXPECT_EQ(done.final_step, 2);
  fs::remove_all(dir);
}

// Two micro-batches of 4 give the gradient of one batch of 8 (the same rows; each micro-batch
// weighted by its share of label tokens), hence the same loss and update.
TEST(Trainer, GradientAccumulationEqualsOneBigBatch) {
  Model one(tiny_shape()), two(tiny_shape());
  init_params(one, 4);
  init_params(two, 4);
  TrainConfig c = small_config(1);
  c.schedule.lr = 1e-3;
  auto big = make_synthetic_source(copy_task(), 8, 9);
  const TrainResult a = train(one, *big, nullptr, c);
  c.grad_accum = 2;
  auto small = make_synthetic_source(copy_task(), 4, 9);
  const TrainResult b = train(two, *small, nullptr, c);
  ASSERT_EQ(a.steps.size(), 1u);
  ASSERT_EQ(b.steps.size(), 1u);
  EXPECT_NEAR(a.steps[0].loss, b.steps[0].loss, 1e-6 * a.steps[0].loss);
  EXPECT_NEAR(a.steps[0].grad_norm, b.steps[0].grad_norm, 1e-5 * a.steps[0].grad_norm);
  EXPECT_EQ(a.steps[0].tokens, b.steps[0].tokens);
  EXPECT_EQ(a.steps[0].label_tokens, 8 * 9);
  // The step's gradient is left in the buffer: compare it norm-wise.
  double diff = 0;
  for (int64_t i = 0; i < one.num_params(); ++i) diff += std::pow(double(one.grads()[i]) - double(two.grads()[i]), 2);
  EXPECT_LT(std::sqrt(diff), 1e-5 * a.steps[0].grad_norm);
  c.batch = 6;   // not grad_accum x micro-batch
  auto bad = make_synthetic_source(copy_task(), 4, 9);
  EXPECT_THROW(train(two, *bad, nullptr, c), Error);
}

TEST(Trainer, NanStopsAndMarksDiverged) {
  Model m(tiny_shape());
  init_params(m, 1);
  m.params()[m.table().at("decoder.final_layer_norm.weight").offset] = std::nanf("");
  auto data = make_synthetic_source(copy_task(), 8, 5);
  const std::string dir = temp_dir("nan");
  TrainConfig c = small_config(5);
  c.checkpoint_dir = dir;
  int calls = 0;
  const TrainResult r = train(m, *data, nullptr, c, [&](const StepMetrics&) { ++calls; });
  EXPECT_TRUE(r.diverged);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(r.final_step, 0);
  EXPECT_FALSE(r.stop_reason.empty());
  EXPECT_FALSE(is_training_checkpoint(dir));   // a diverged run writes no checkpoint
  fs::remove_all(dir);
}

// Evaluation is the mean CE over every eval label token, over the same batches each time.
TEST(Trainer, EvalIsTokenMeanOverFixedBatches) {
  Model m(tiny_shape());
  init_params(m, 2);
  SyntheticConfig ragged = copy_task();
  auto eval = make_synthetic_source(ragged, 4, 77);
  const Batch b1 = eval->next(), b2 = eval->next();
  const LossResult r1 = m.evaluate(b1), r2 = m.evaluate(b2);
  eval->seek(nlohmann::json{{"example", 0}});
  const EvalMetrics e = evaluate(m, *eval, 2);
  EXPECT_EQ(e.tokens, r1.label_tokens + r2.label_tokens);
  EXPECT_NEAR(e.loss, (r1.sum_cross_entropy + r2.sum_cross_entropy) / double(e.tokens), 1e-9);

  TrainConfig c = small_config(4);
  c.eval_every = 2;
  c.eval_batches = 2;
  auto data = make_synthetic_source(copy_task(), 8, 5);
  auto eval2 = make_synthetic_source(ragged, 4, 77);
  std::vector<int64_t> at;
  const TrainResult r = train(m, *data, eval2.get(), c, {}, [&](const EvalMetrics& x) { at.push_back(x.step); });
  EXPECT_EQ(at, (std::vector<int64_t>{2, 4}));
  ASSERT_EQ(r.evals.size(), 2u);
  EXPECT_EQ(r.evals[0].tokens, e.tokens);
  EXPECT_EQ(r.evals[1].tokens, e.tokens);   // same batches again
  EXPECT_LT(r.evals[1].loss, e.loss);
}

// The held-out loss's standard error over eval batches (issue 16). By hand for ragged batches
// (s, t) = (10, 4), (30, 8), (8, 4): L = 48/16 = 3, residuals s − L·t = −2, 6, −4, Σ² = 56,
// SE = sqrt(3/2 · 56) / 16 = sqrt(84)/16. From a model's batches (the copy task's batches hold the same
// label tokens): the sample std of the batch losses / sqrt(B). One batch has none (NaN).
TEST(Trainer, EvalStandardErrorOverBatches) {
  EXPECT_NEAR(eval_standard_error({{10, 4}, {30, 8}, {8, 4}}), std::sqrt(84.0) / 16, 1e-15);
  EXPECT_TRUE(std::isnan(eval_standard_error({{10, 4}})));
  EXPECT_TRUE(std::isnan(eval_standard_error({})));
  Model m(tiny_shape());
  init_params(m, 2);
  auto eval = make_synthetic_source(copy_task(), 4, 77);
  std::vector<LossResult> each;
  for (int b = 0; b < 4; ++b) each.push_back(m.evaluate(eval->next()));
  eval->seek(nlohmann::json{{"example", 0}});
  const EvalMetrics e = evaluate(m, *eval, 4);
  EXPECT_EQ(e.batches, 4);
  ASSERT_EQ(each[0].label_tokens, each[3].label_tokens);
  double mean = 0, var = 0;
  for (const auto& r : each) mean += r.loss / 4;
  for (const auto& r : each) var += (r.loss - mean) * (r.loss - mean) / 3;
  EXPECT_GT(var, 0);
  EXPECT_NEAR(e.loss_standard_error, std::sqrt(var / 4), 1e-9);
  ASSERT_EQ(e.batch_losses.size(), 4u);
  for (int b = 0; b < 4; ++b) {
    EXPECT_NEAR(e.batch_losses[b], each[b].loss, 1e-12) << b;
    EXPECT_EQ(e.batch_tokens[b], each[b].label_tokens) << b;
  }
  eval->seek(nlohmann::json{{"example", 0}});
  EXPECT_TRUE(std::isnan(evaluate(m, *eval, 1).loss_standard_error));
}

// The learning test: from ~5.3 nats at init (ln 64 = 4.16 for a uniform guess), a 2+2-layer dm-64
// T5 must copy 8 tokens (held-out loss < 0.5) within 500 Adafactor steps of batch 32 (rsqrt, peak
// 0.03, warm-up 50). Measured: 0.23 at step 350, 0.13 at 400; ~9 s on one thread.
TEST(Trainer, TinyT5LearnsToCopy) {
  Model m(tiny_shape());
  init_params(m, 0);
  auto data = make_synthetic_source(copy_task(), 32, 1);
  auto eval = make_synthetic_source(copy_task(), 64, 2);
  TrainConfig c;
  c.steps = 500;
  c.batch = 32;
  c.optimizer.name = "adafactor";
  c.schedule.kind = ScheduleKind::rsqrt;
  c.schedule.lr = 0.03;
  c.schedule.warmup_steps = 50;
  c.eval_every = 100;
  c.seed = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const TrainResult r = train(m, *data, eval.get(), c);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(r.diverged);
  ASSERT_FALSE(r.evals.empty());
  EXPECT_GT(r.steps.front().loss, 3.5);   // starts near ln(64)
  std::fprintf(stderr, "copy task: first loss %.3f, eval %s, %.1f s\n", r.steps.front().loss,
               [&] {
                 std::string s;
                 for (const auto& e : r.evals) s += fmt::format("{}:{:.3f} ", e.step, e.loss);
                 return s;
               }().c_str(),
               seconds);
  EXPECT_LT(r.evals.back().loss, 0.5);
}

}  // namespace
}  // namespace t5
