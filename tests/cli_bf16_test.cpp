// bf16 on a CPU without a bf16 matmul (issue 13), as a user meets it: with oneDNN capped at AVX2 (what
// an AVX2-only EPYC offers) or at AVX512_CORE (AVX-512 without the BF16 instructions), `train` and
// `bench --precision bf16` run, on the emulated path, and say so: "bf16 (emulated)" in the opening
// line and bench's text, "precision_path": "emulated" in their records. T5SCALE_BF16_EMULATE=1 does the
// same on any CPU. Without a cap or the variable, the label is whatever this CPU's path is.
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/gemm.h"
#include "tests/cli_runner.h"

namespace t5 {
namespace {

using testing::t5scale;
using ::testing::HasSubstr;

const std::string kTrain = "train --model tiny-nl1-dm64-ff128-kv16-nh2 --steps 3 --batch 2 --precision bf16 --threads 2";
const std::string kBench =
    "bench --model tiny-nl1-dm64-ff128-kv16-nh2 --batch 2 --inputs-length 32 --targets-length 8 --warmup 1 --steps 2 "
    "--threads 2 --precision bf16";

// The last JSON object printed on stdout (train's summary).
nlohmann::json last_json_line(const std::string& out) {
  const size_t end = out.find_last_not_of('\n');
  const size_t begin = out.rfind('\n', end);
  return nlohmann::json::parse(out.substr(begin == std::string::npos ? 0 : begin + 1, end + 1));
}

void expect_emulated_train_and_bench(const std::string& why) {
  SCOPED_TRACE(why);
  const testing::CommandResult train = t5scale(kTrain);
  ASSERT_EQ(train.exit_code, 0) << train.err;
  EXPECT_THAT(train.err.substr(0, train.err.find('\n')), HasSubstr("; bf16 (emulated)")) << train.err;
  const nlohmann::json summary = last_json_line(train.out);
  EXPECT_EQ(summary["precision"], "bf16");
  EXPECT_EQ(summary["precision_path"], "emulated");
  EXPECT_TRUE(std::isfinite(summary["final_loss"].get<double>())) << summary.dump();

  const testing::CommandResult text = t5scale(kBench);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out.substr(0, text.out.find('\n')), HasSubstr(", bf16 (emulated), ")) << text.out;
  EXPECT_THAT(text.out, HasSubstr(" GFLOP/s bf16 (emulated) GEMM (")) << text.out;  // the ceiling line

  const testing::CommandResult json = t5scale(kBench + " --json");
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const nlohmann::json j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j["precision"], "bf16");
  EXPECT_EQ(j["precision_path"], "emulated");
  EXPECT_EQ(j["precision_label"], "bf16 (emulated)");
  EXPECT_EQ(j["ceiling"]["precision_path"], "emulated");
  EXPECT_GT(j["tokens_per_second"].get<double>(), 0.0);
}

TEST(CliBf16, EmulatedUnderAnAvx2Cap) {
  const testing::ScopedEnv cap({{"ONEDNN_MAX_CPU_ISA", "AVX2"}, {"DNNL_MAX_CPU_ISA", "AVX2"}});
  expect_emulated_train_and_bench("oneDNN capped at AVX2");
}

// A bf16 sweep under the cap: its record keeps "precision": "bf16" in the settings (reports group by
// it) and says "precision_path": "emulated" beside the MFU; the stored ceiling was measured emulated.
TEST(CliBf16, SweepRecordSaysEmulated) {
  const testing::ScopedEnv cap({{"ONEDNN_MAX_CPU_ISA", "AVX2"}, {"DNNL_MAX_CPU_ISA", "AVX2"}});
  const testing::ScratchDir scratch("t5scale_cli_bf16_sweep");
  const std::string spec = scratch.write("bf16.json", R"({"name": "b", "shapes": ["tiny-nl1-dm64-ff128-kv16-nh2"],
      "budget": {"steps": 2}, "batch": 2, "inputs_length": 16, "targets_length": 4, "precision": "bf16",
      "threads": 1, "data": {"source": "synthetic"}})");
  const testing::CommandResult r = t5scale(fmt::format("sweep {} --out {} --quiet", spec, scratch.path("out")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream runs(scratch.path("out/runs.jsonl"));
  std::string line;
  ASSERT_TRUE(std::getline(runs, line));
  const nlohmann::json record = nlohmann::json::parse(line);
  EXPECT_EQ(record["status"], "ok") << line;
  EXPECT_EQ(record["settings"]["precision"], "bf16");
  EXPECT_EQ(record["throughput"]["precision_path"], "emulated");
  const nlohmann::json ceiling = nlohmann::json::parse(std::ifstream(scratch.path("out/ceiling.json")));
  EXPECT_EQ(ceiling["precision_path"], "emulated");
}

// AVX-512 without BF16: oneDNN 2.6 has a bf16 GEMM there, but it emulates the instructions and runs
// slower than f32 (core/gemm_onednn.cpp), so it is not native.
TEST(CliBf16, EmulatedUnderAnAvx512CoreCap) {
  const testing::ScopedEnv cap({{"ONEDNN_MAX_CPU_ISA", "AVX512_CORE"}, {"DNNL_MAX_CPU_ISA", "AVX512_CORE"}});
  expect_emulated_train_and_bench("oneDNN capped at AVX512_CORE");
}

TEST(CliBf16, EmulatedWhenForced) {
  const testing::ScopedEnv forced({{"T5SCALE_BF16_EMULATE", "1"}});
  expect_emulated_train_and_bench("T5SCALE_BF16_EMULATE=1");
}

// Uncapped, the label is this CPU's path; "fp32" is never emulated.
TEST(CliBf16, LabelFollowsThisCpu) {
  const testing::CommandResult json = t5scale(kBench + " --json");
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const nlohmann::json j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j["precision_path"], to_string(precision_path(GemmPrecision::bf16)));
  EXPECT_EQ(j["precision_label"], precision_label(GemmPrecision::bf16));
  const testing::CommandResult fp32 = t5scale(kTrain.substr(0, kTrain.find(" --precision")) + " --threads 1");
  ASSERT_EQ(fp32.exit_code, 0) << fp32.err;
  EXPECT_THAT(fp32.err.substr(0, fp32.err.find('\n')), HasSubstr("; fp32")) << fp32.err;
  EXPECT_EQ(last_json_line(fp32.out)["precision_path"], "native");
}

}  // namespace
}  // namespace t5
