// core/step_bench: the random batch is well formed, peak RSS sees an allocation, and every number
// `t5scale bench` prints follows from its measured times by the formulas stated in step_bench.h
// (tokens = batch·(inputs+targets), FLOPs = SPEC §3 train_per_step from core/counts.h, medians).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/names.h"
#include "core/profile.h"
#include "core/step_bench.h"
#include "core/timing.h"

namespace t5 {
namespace {

TEST(StepBench, RandomFullBatchIsShiftedAndUnpadded) {
  const Lengths len{.inputs = 7, .targets = 5, .batch = 3};
  const Batch b = random_full_batch(len, 100, 42);
  ASSERT_EQ(b.input_ids.size(), 21u);
  ASSERT_EQ(b.labels.size(), 15u);
  EXPECT_EQ(b.label_tokens(), 15);
  for (int32_t id : b.input_ids) EXPECT_TRUE(id >= 3 && id < 100);
  for (int64_t r = 0; r < 3; ++r) {
    EXPECT_EQ(b.decoder_input_ids[size_t(r * 5)], kDecoderStartId);
    for (int64_t j = 1; j < 5; ++j) EXPECT_EQ(b.decoder_input_ids[size_t(r * 5 + j)], b.labels[size_t(r * 5 + j - 1)]);
  }
  EXPECT_TRUE(std::all_of(b.encoder_segment_ids.begin(), b.encoder_segment_ids.end(), [](int32_t s) { return s == 1; }));
  EXPECT_EQ(random_full_batch(len, 100, 42).input_ids, b.input_ids);  // seeded
}

TEST(StepBench, PeakRssSeesATouchedAllocation) {
  const int64_t before = peak_rss_bytes();
  std::vector<char> block(size_t(256) << 20);
  std::memset(block.data(), 1, block.size());
  EXPECT_GE(peak_rss_bytes(), before + (int64_t(200) << 20));
  EXPECT_EQ(block[12345], 1);
}

TEST(StepBench, ReportedNumbersFollowFromTheTimes) {
  StepBenchConfig c;
  c.shape = resolve_shape("t5-efficient-tiny-nl1");
  c.lengths = {.inputs = 16, .targets = 8, .batch = 2};
  c.warmup_steps = 1;
  c.timed_steps = 3;
  c.ceiling_budget_seconds = 0.05;
  StepBenchResult r;
  r = run_step_bench(c);
  ASSERT_EQ(r.step_seconds.size(), 3u);
  std::vector<double> sorted = r.step_seconds;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_DOUBLE_EQ(r.median_step_seconds, sorted[1]);
  EXPECT_EQ(r.tokens_per_step, 2 * (16 + 8));
  EXPECT_DOUBLE_EQ(r.flops_per_step, 1056571392.0);   // by hand below: 6 x 176,095,232
  EXPECT_DOUBLE_EQ(r.tokens_per_second, 48.0 / r.median_step_seconds);
  EXPECT_DOUBLE_EQ(r.flops_per_second, r.flops_per_step / r.median_step_seconds);
  EXPECT_DOUBLE_EQ(r.mfu, r.flops_per_second / r.ceiling.flops_per_second);
  EXPECT_EQ(r.memory_estimate.training_total_bytes,
            estimate_memory(c.shape, c.lengths, OptimizerKind::adamw).training_total_bytes);
  EXPECT_GT(r.peak_rss_bytes, r.memory_estimate.weights_fp32_bytes);
  EXPECT_GT(r.phases.forward, 0.0);
  EXPECT_LE(r.phases.backward, r.phases.forward_backward);
  // The warm-up and timed steps all train on one batch, so the loss is finite, below the loss of
  // uniform guessing over the vocabulary, and falls from the first timed step to the last.
  EXPECT_TRUE(std::isfinite(r.loss_first));
  EXPECT_LT(r.loss_first, std::log(32128.0) + 1.0);
  EXPECT_LT(r.loss_last, r.loss_first);
  // Breakdown: the model's components in pass order, then the optimizer; SPEC §3 FLOPs per component
  // summing to flops_per_step; shares and FLOP/s from the row's own seconds; the components' time
  // (the median of 3 steps is one actual step) nests inside the measured forward_backward phase.
  // FLOPs per component by hand (SPEC §3; tiny-nl1: dm = inner = 256, ff 1024, V 32128; Le 16, Ld 8), per
  // example, times 3 (forward + backward) x 2 examples:
  //   encoder attention 2*16*4*256^2 + 4*16^2*256 = 8,650,752; encoder FF 2*16*2*256*1024 = 16,777,216;
  //   decoder self 2*8*4*256^2 + 4*8^2*256 = 4,259,840; cross 2*8*2*256^2 + 2*16*2*256^2 + 4*8*16*256
  //   = 6,422,528; decoder FF 2*8*2*256*1024 = 8,388,608; output head 2*8*256*32128 = 131,596,288;
  //   sum 176,095,232. Embeddings and norms do no matmul work.
  ASSERT_EQ(r.breakdown.size(), size_t(kNumComponents + 1));
  const double hand[kNumComponents] = {0, 6 * 8650752.0, 6 * 16777216.0, 0, 0, 6 * 4259840.0, 6 * 6422528.0,
                                       6 * 8388608.0, 0, 6 * 131596288.0};
  double flops = 0, model_seconds = 0;
  for (int i = 0; i < kNumComponents; ++i) {
    const ComponentTime& row = r.breakdown[size_t(i)];
    EXPECT_EQ(row.component, to_string(StepComponent(i)));
    EXPECT_EQ(row.flops, hand[i]) << row.component;
  }
  for (const ComponentTime& row : r.breakdown) {
    flops += row.flops;
    EXPECT_GE(row.forward_seconds, 0.0) << row.component;
    EXPECT_GE(row.backward_seconds, 0.0) << row.component;
    EXPECT_DOUBLE_EQ(row.share_of_step, row.seconds / r.median_step_seconds) << row.component;
    if (row.flops > 0) {
      EXPECT_DOUBLE_EQ(row.flops_per_second, row.flops / row.seconds) << row.component;
    }
    if (row.component != "optimizer") {
      EXPECT_DOUBLE_EQ(row.seconds, row.forward_seconds + row.backward_seconds) << row.component;
      EXPECT_GT(row.seconds, 0.0) << row.component;
      model_seconds += row.seconds;
    }
  }
  EXPECT_EQ(flops, r.flops_per_step);
  EXPECT_EQ(r.breakdown.back().component, "optimizer");
  EXPECT_DOUBLE_EQ(r.breakdown.back().seconds, r.phases.optimizer);
  EXPECT_LE(model_seconds, r.phases.forward_backward);
  EXPECT_NEAR(r.breakdown_rest_seconds, r.phases.forward_backward - model_seconds, 1e-12);
  const nlohmann::json j = to_json(r);
  ASSERT_EQ(j["breakdown"].size(), r.breakdown.size());
  EXPECT_EQ(j["breakdown"][1]["component"], "encoder_self_attention");
  EXPECT_DOUBLE_EQ(j["breakdown"][1]["gflops_per_second"].get<double>(), r.breakdown[1].flops_per_second / 1e9);
  EXPECT_TRUE(j["breakdown"][0]["gflops_per_second"].is_null());  // no matmul work in the embedding
  EXPECT_EQ(j["tokens_per_step"], 48);
  EXPECT_EQ(j["precision"], "fp32");
  EXPECT_DOUBLE_EQ(j["peak_rss_over_estimate"].get<double>(),
                   double(r.peak_rss_bytes) / double(r.memory_estimate.training_total_bytes));
}

}  // namespace
}  // namespace t5

namespace t5 {
namespace {

TEST(Timing, MedianOfOddEvenAndNoValues) {
  EXPECT_DOUBLE_EQ(median({3.0, 1.0, 2.0}), 2.0);
  EXPECT_DOUBLE_EQ(median({4.0, 1.0, 3.0, 2.0}), 2.5);
  EXPECT_DOUBLE_EQ(median({}), 0.0);
}

}  // namespace
}  // namespace t5
