// benchmarks/compare.py's summary of one alternation set (ours vs the PyTorch peer): medians, the ratio
// to the peer, and the ceiling bound (how many times the peer ours would be at 100% of the same-run
// GEMM ceiling, and the MFU the target needs), on hand-made runs with the values worked by hand.
// compare.py needs only Python's standard library; the test skips without /usr/bin/python3.
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_runner.h"

namespace t5 {
namespace {

nlohmann::json bench_run(double tokens_per_second, double flops_per_second, double ceiling, double mfu) {
  return {{"tokens_per_second", tokens_per_second}, {"flops_per_second", flops_per_second},
          {"step_seconds", 5024.0 / tokens_per_second}, {"ceiling", {{"flops_per_second", ceiling}}},
          {"mfu", mfu}, {"peak_rss_over_estimate", 1.1}};
}

nlohmann::json peer_run(double tokens_per_second, double flops_per_second) {
  return {{"tokens_per_second", tokens_per_second}, {"flops_per_second", flops_per_second},
          {"step_seconds", 5024.0 / tokens_per_second}};
}

TEST(Compare, SummaryRatiosAndCeilingBoundWorkedByHand) {
  if (std::system("/usr/bin/python3 -c 'import statistics' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "no /usr/bin/python3";
  // Three alternations; medians: peer 5000 tokens/s at 160 GFLOP/s; fp32 10000 tokens/s, ceiling 420;
  // bf16 15000 tokens/s, ceiling 800 (GFLOP/s).
  const nlohmann::json runs = {
      {"peer", {peer_run(4000, 130e9), peer_run(6000, 200e9), peer_run(5000, 160e9)}},
      {"fp32", {bench_run(9000, 300e9, 400e9, 0.70), bench_run(11000, 360e9, 440e9, 0.80),
                bench_run(10000, 330e9, 420e9, 0.75)}},
      {"bf16", {bench_run(15000, 500e9, 800e9, 0.60), bench_run(14000, 470e9, 780e9, 0.58),
                bench_run(16000, 530e9, 900e9, 0.62)}}};
  const testing::ScratchDir dir("t5scale_compare");
  const std::string runs_path = dir.write("runs.json", runs.dump());
  const std::string script = "import json, sys; sys.path.insert(0, '" + std::string(T5SCALE_SOURCE_DIR) +
                             "/benchmarks'); import compare; "
                             "print(json.dumps(compare.summarize({'threads': 2}, json.load(open(sys.argv[1])), "
                             "['fp32', 'bf16'])))";
  const std::string out_path = dir.path("summary.json");
  const std::string cmd = "/usr/bin/python3 -c \"" + script + "\" " + runs_path + " >" + out_path;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const nlohmann::json s = nlohmann::json::parse(testing::slurp(out_path));
  EXPECT_EQ(s["threads"], 2);
  EXPECT_DOUBLE_EQ(s["peer"]["tokens_per_second"].get<double>(), 5000);
  EXPECT_DOUBLE_EQ(s["peer"]["flops_per_second"].get<double>(), 160e9);
  // fp32: 10000 / 5000 = 2x; at the full 420 GFLOP/s ceiling 420 / 160 = 2.625x; 2x needs
  // 2 * 160 / 420 = 76.19% MFU.
  EXPECT_DOUBLE_EQ(s["fp32"]["ratio_to_peer"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(s["fp32"]["ceiling_flops_per_second"].get<double>(), 420e9);
  EXPECT_DOUBLE_EQ(s["fp32"]["mfu"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(s["fp32"]["ratio_at_full_ceiling"].get<double>(), 2.625);
  EXPECT_DOUBLE_EQ(s["fp32"]["target_ratio"].get<double>(), 2.0);
  EXPECT_NEAR(s["fp32"]["mfu_needed_for_target"].get<double>(), 320.0 / 420.0, 1e-12);
  // bf16: 15000 / 5000 = 3x; 800 / 160 = 5x at the full ceiling, so the 6x target needs 120% MFU.
  EXPECT_DOUBLE_EQ(s["bf16"]["ratio_to_peer"].get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(s["bf16"]["ratio_at_full_ceiling"].get<double>(), 5.0);
  EXPECT_NEAR(s["bf16"]["mfu_needed_for_target"].get<double>(), 1.2, 1e-12);
}

}  // namespace
}  // namespace t5
