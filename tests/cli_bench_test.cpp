// `t5scale bench` as a user runs it: the JSON keeps the keys benchmarks/compare.py reads and adds a
// per-component breakdown whose forward/backward times nest inside the measured forward_backward
// phase (the laps sit inside it) and cover most of it; the text output's numbers are worked by hand
// (tokens and FLOPs per step, per-component FLOPs, the analytic memory) or follow from its printed times.
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/cli_runner.h"

namespace t5 {
namespace {

using testing::numbers_after;
using testing::t5scale;
using testing::within_rounding;
using ::testing::HasSubstr;

const std::string kTinyBench =
    "bench --model t5-efficient-tiny-nl1 --batch 4 --inputs-length 64 --targets-length 32 --threads 1 --warmup 1 "
    "--steps 1";

TEST(CliBench, JsonBreakdownNestsInsideTheForwardBackwardPhase) {
  const testing::CommandResult r = t5scale(kTinyBench + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  for (const char* key : {"step_seconds", "tokens_per_second", "flops_per_step", "flops_per_second", "mfu",
                          "phases_seconds", "peak_rss_bytes"})
    EXPECT_TRUE(j.contains(key)) << key;
  const nlohmann::json& rows = j["breakdown"];
  ASSERT_EQ(rows.size(), 11u);
  double model_seconds = 0, flops = 0;
  for (const nlohmann::json& row : rows) {
    const std::string name = row["component"];
    EXPECT_GE(row["forward_seconds"].get<double>(), 0.0) << name;
    EXPECT_GE(row["backward_seconds"].get<double>(), 0.0) << name;
    EXPECT_GE(row["seconds"].get<double>(), 0.0) << name;
    flops += row["flops"].get<double>();
    if (name != "optimizer") model_seconds += row["forward_seconds"].get<double>() + row["backward_seconds"].get<double>();
  }
  EXPECT_EQ(rows.back()["component"], "optimizer");
  EXPECT_DOUBLE_EQ(rows.back()["seconds"].get<double>(), j["phases_seconds"]["optimizer"].get<double>());
  EXPECT_EQ(flops, j["flops_per_step"].get<double>());
  const double forward_backward = j["phases_seconds"]["forward_backward"];
  EXPECT_LE(model_seconds, forward_backward);
  EXPECT_GE(model_seconds, 0.5 * forward_backward);
}

// The text form: every printed number either worked by hand or following from the printed times by the
// stated formulas, within their printed rounding. Hand values, t5-efficient-tiny-nl1 (el = dl = 1,
// dm = inner = 256, ff 1024, nh 4) at 64 / 32, batch 4:
//   tokens per step 4*(64 + 32) = 384.
//   Forward per example (SPEC §3): encoder attention 2*64*4*256^2 + 4*64^2*256 = 33,554,432 + 4,194,304
//   = 37,748,736; encoder FF 2*64*2*256*1024 = 67,108,864; decoder self 2*32*4*256^2 + 4*32^2*256
//   = 16,777,216 + 1,048,576 = 17,825,792; cross 2*32*2*256^2 + 2*64*2*256^2 + 4*32*64*256 = 8,388,608
//   + 16,777,216 + 2,097,152 = 27,262,976; decoder FF 2*32*2*256*1024 = 33,554,432; lm head
//   2*32*256*32128 = 526,385,152; sum 709,885,952. A step is 3 x 4 examples: 8,518,631,424 (8.52G), per
//   component 452,984,832 / 805,306,368 / 213,909,504 / 327,155,712 / 402,653,184 / 6,316,621,824.
//   Analytic training state with AdamW (counts.cpp): N = 32128*256 + 786,944 + 1,049,344 + 256 + 512
//   = 10,061,824; weights + grads + m + v = 16N = 160,989,184 B; activations per example
//   64*(4*256 + 4*256 + 4*64 + 1024) + 32*(6*256 + 6*256 + 4*96 + 1024) + 64*2*256 + 96*3*256 + 32*32128
//   = 212,992 + 143,360 + 32,768 + 73,728 + 1,028,096 = 1,490,944 floats, x4 B x4 = 23,855,104 B;
//   total 184,844,288 B (184.8 MB).
TEST(CliBench, TextNumbersByHandAndFromTheirTimes) {
  const testing::CommandResult r = t5scale(kTinyBench);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("phases      forward "));
  const double step = numbers_after(r.out, "step        ").at(0);
  EXPECT_THAT(r.out, HasSubstr("(tokens = batch*(inputs+targets) = 384 per step)"));
  const std::vector<double> throughput = numbers_after(r.out, "throughput  ");   // tokens/s, 384, examples/s
  ASSERT_EQ(throughput.size(), 3u) << r.out;
  EXPECT_TRUE(within_rounding(throughput[0], 0.5, 384, 0, step, 5e-5)) << throughput[0] << " " << step;
  EXPECT_TRUE(within_rounding(throughput[2], 0.05, 4, 0, step, 5e-5)) << throughput[2] << " " << step;
  EXPECT_THAT(r.out, HasSubstr("GFLOP/s (8.52G FLOP per step, exact matmul count of SPEC §3)"));
  const double achieved = numbers_after(r.out, "achieved    ").at(0);
  EXPECT_TRUE(within_rounding(achieved, 0.05, 8.518631424, 0, step, 5e-5)) << achieved << " " << step;
  const std::vector<double> ceiling = numbers_after(r.out, "ceiling     ");   // GFLOP/s, M, N, K, MFU %
  ASSERT_GE(ceiling.size(), 2u) << r.out;
  EXPECT_TRUE(within_rounding(ceiling.back(), 0.05, 100 * achieved, 5, ceiling[0], 0.05)) << r.out;
  const std::vector<double> memory = numbers_after(r.out, "memory      ");   // RSS MB, estimate MB, ratio
  ASSERT_EQ(memory.size(), 3u) << r.out;
  EXPECT_EQ(memory[1], 184.8);
  EXPECT_TRUE(within_rounding(memory[2], 0.005, memory[0], 0.05, memory[1], 0.05)) << r.out;
  // Breakdown rows: forward s, backward s, total s, step %, GFLOP/s.
  const std::pair<const char*, double> rows[] = {
      {"encoder_self_attention", 452984832}, {"encoder_feed_forward", 805306368},
      {"decoder_self_attention", 213909504}, {"decoder_cross_attention", 327155712},
      {"decoder_feed_forward", 402653184},   {"output_head", 6316621824}};
  for (const auto& [name, flops] : rows) {
    const std::vector<double> v = numbers_after(r.out, "\n" + std::string(name) + " ");
    ASSERT_EQ(v.size(), 5u) << name << "\n" << r.out;
    EXPECT_NEAR(v[2], v[0] + v[1], 1.5e-4) << name;
    EXPECT_TRUE(within_rounding(v[3], 0.05, 100 * v[2], 100 * 5e-5, step, 5e-5)) << name << "\n" << r.out;
    EXPECT_TRUE(within_rounding(v[4], 0.05, flops / 1e9, 0, v[2], 5e-5)) << name << "\n" << r.out;
  }
  // No matmul work, no GFLOP/s ("-"): an embedding's row has its three times and share, the optimizer's
  // its total and share.
  EXPECT_EQ(numbers_after(r.out, "\nencoder_embedding ").size(), 4u) << r.out;
  EXPECT_EQ(numbers_after(r.out, "\noptimizer ").size(), 2u) << r.out;
  EXPECT_THAT(r.out, HasSubstr("\nrest "));
}

TEST(CliBench, SeedIsAWholeNonNegativeNumber) {
  // Boost alone would read "-1" as 2^64 - 1 and bench with it.
  const testing::CommandResult r = t5scale(kTinyBench + " --seed -1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("t5scale bench: error: --seed: '-1' is not a seed in [0, 2^64)"));
  EXPECT_EQ(r.out, "");
}

// Step counts name the option the user gave, under the command they ran: bench's --steps/--warmup,
// and batches --bench's --train-steps/--train-warmup (both once said "bench: --steps").
TEST(CliBench, StepCountsNameTheirOwnOption) {
  const std::string bench = "bench --model t5-efficient-tiny-nl1 --batch 4 --inputs-length 64 --targets-length 32";
  testing::expect_one_line_error(t5scale(bench + " --steps 0"), "bench", "error: --steps must be positive, got 0\n");
  testing::expect_one_line_error(t5scale(bench + " --warmup -1"), "bench",
                                 "error: --warmup must not be negative, got -1\n");
  testing::expect_one_line_error(t5scale("batches --bench --count 1 --batch 1 --train-steps 0"), "batches",
                                 "error: --train-steps must be positive, got 0\n");
  testing::expect_one_line_error(t5scale("batches --bench --count 1 --batch 1 --train-warmup -2"), "batches",
                                 "error: --train-warmup must not be negative, got -2\n");
}

}  // namespace
}  // namespace t5
