// `t5scale bench` as a user runs it: the JSON keeps the keys benchmarks/compare.py reads and adds a
// per-component breakdown whose forward/backward times nest inside the measured forward_backward
// phase (the laps sit inside it) and cover most of it; the text output prints the same table.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/cli_runner.h"

namespace t5 {
namespace {

using testing::t5scale;
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

TEST(CliBench, TextPrintsTheBreakdownTable) {
  const testing::CommandResult r = t5scale(kTinyBench);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("phases      forward "));
  EXPECT_THAT(r.out, HasSubstr("component"));
  for (const char* name : {"encoder_embedding", "encoder_self_attention", "decoder_cross_attention", "output_head",
                           "optimizer", "rest"})
    EXPECT_THAT(r.out, HasSubstr("\n" + std::string(name) + " ")) << name;
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
