// benchmarks/compare.py's summary of one alternation set (ours vs the PyTorch peer): medians, the ratio
// to the peer, and the ceiling bound (how many times the peer ours would be at 100% of the same-run
// GEMM ceiling, and the MFU the target needs), on hand-made runs with the values worked by hand;
// and its choice of kernels per CPU (issue 13): OpenBLAS SkylakeX only with AVX-512 F/BW/DQ/VL, Haswell
// on an AVX2-only CPU, nothing forced otherwise, and --isa avx2 capping every library.
// compare.py needs only Python's standard library; the tests skip without /usr/bin/python3.
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

bool have_python() { return std::system("/usr/bin/python3 -c 'import statistics' >/dev/null 2>&1") == 0; }

// Prints json.dumps(EXPRESSION) with `compare` imported and `arg` the parsed JSON of `input`.
nlohmann::json run_compare_py(const testing::ScratchDir& dir, const std::string& expression,
                              const nlohmann::json& input) {
  const std::string input_path = dir.write("input.json", input.dump());
  const std::string script = "import json, sys; sys.path.insert(0, '" + std::string(T5SCALE_SOURCE_DIR) +
                             "/benchmarks'); import compare; arg = json.load(open(sys.argv[1])); "
                             "print(json.dumps(" + expression + "))";
  const std::string out_path = dir.path("output.json");
  const std::string cmd = "/usr/bin/python3 -c \"" + script + "\" " + input_path + " >" + out_path;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return nlohmann::json::parse(testing::slurp(out_path));
}

TEST(Compare, SummaryRatiosAndCeilingBoundWorkedByHand) {
  if (!have_python()) GTEST_SKIP() << "no /usr/bin/python3";
  // Three alternations; medians: peer 5000 tokens/s at 160 GFLOP/s; fp32 10000 tokens/s, ceiling 420;
  // bf16 15000 tokens/s, ceiling 800 (GFLOP/s).
  const nlohmann::json runs = {
      {"peer", {peer_run(4000, 130e9), peer_run(6000, 200e9), peer_run(5000, 160e9)}},
      {"fp32", {bench_run(9000, 300e9, 400e9, 0.70), bench_run(11000, 360e9, 440e9, 0.80),
                bench_run(10000, 330e9, 420e9, 0.75)}},
      {"bf16", {bench_run(15000, 500e9, 800e9, 0.60), bench_run(14000, 470e9, 780e9, 0.58),
                bench_run(16000, 530e9, 900e9, 0.62)}}};
  const testing::ScratchDir dir("t5scale_compare");
  const nlohmann::json s = run_compare_py(dir, "compare.summarize({'threads': 2}, arg, ['fp32', 'bf16'])", runs);
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

// /proc/cpuinfo flags of the three CPU kinds seen (MACHINE.md), abridged to what matters here.
const char* const kAvx2OnlyEpyc = "fpu sse2 avx f16c fma avx2 bmi2 sha_ni";
const char* const kAvx512Epyc = "fpu sse2 avx fma avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16";
const char* const kNoAvx2 = "fpu sse2 sse4_2 avx";

TEST(Compare, KernelChoiceFollowsTheCpuAndTheIsaCap) {
  if (!have_python()) GTEST_SKIP() << "no /usr/bin/python3";
  const testing::ScratchDir dir("t5scale_compare_kernels");
  // The flags go through cpu_flags as a /proc/cpuinfo line would.
  auto env_for = [&](const char* flags, const char* isa) {
    return run_compare_py(dir, "compare.kernel_env(compare.cpu_flags('processor : 0\\nflags : ' + arg[0]), arg[1])",
                          nlohmann::json::array({flags, isa}));
  };
  const nlohmann::json null;
  // AVX2-only: SkylakeX would be SIGILL; the AVX2 kernels, nothing capped.
  const nlohmann::json avx2_native = env_for(kAvx2OnlyEpyc, "native");
  EXPECT_EQ(avx2_native["OPENBLAS_CORETYPE"], "Haswell");
  EXPECT_EQ(avx2_native["ONEDNN_MAX_CPU_ISA"], null);
  EXPECT_EQ(avx2_native["T5SCALE_MAX_CPU_ISA"], null);
  // AVX-512 F/BW/DQ/VL: SkylakeX for both sides, nothing capped.
  const nlohmann::json avx512_native = env_for(kAvx512Epyc, "native");
  EXPECT_EQ(avx512_native["OPENBLAS_CORETYPE"], "SkylakeX");
  EXPECT_EQ(avx512_native["ONEDNN_MAX_CPU_ISA"], null);
  EXPECT_EQ(avx512_native["T5SCALE_KEEP_OPENBLAS_CORETYPE"], null);
  // avx512f alone is not enough for SkylakeX's kernels (they use BW, DQ and VL).
  EXPECT_EQ(env_for("fpu avx fma avx2 avx512f", "native")["OPENBLAS_CORETYPE"], "Haswell");
  // Neither: each library picks (the variable is removed, not set).
  EXPECT_EQ(env_for(kNoAvx2, "native")["OPENBLAS_CORETYPE"], null);
  // --isa avx2 on the AVX-512 machine caps every library, and t5scale keeps the Haswell core.
  const nlohmann::json capped = env_for(kAvx512Epyc, "avx2");
  EXPECT_EQ(capped["OPENBLAS_CORETYPE"], "Haswell");
  EXPECT_EQ(capped["T5SCALE_KEEP_OPENBLAS_CORETYPE"], "1");
  EXPECT_EQ(capped["ONEDNN_MAX_CPU_ISA"], "AVX2");
  EXPECT_EQ(capped["DNNL_MAX_CPU_ISA"], "AVX2");
  EXPECT_EQ(capped["ATEN_CPU_CAPABILITY"], "avx2");
  EXPECT_EQ(capped["T5SCALE_MAX_CPU_ISA"], "avx2");
  EXPECT_EQ(env_for(kAvx2OnlyEpyc, "avx2"), capped);
}

TEST(Compare, ChildEnvironmentDropsStrayCapsAndSetsThreads) {
  if (!have_python()) GTEST_SKIP() << "no /usr/bin/python3";
  const testing::ScratchDir dir("t5scale_compare_env");
  // A cap left in the caller's shell must not leak into a native run; other variables pass through.
  const nlohmann::json env = run_compare_py(
      dir,
      "compare.child_env({'ONEDNN_MAX_CPU_ISA': 'AVX2', 'OPENBLAS_CORETYPE': 'SkylakeX', 'HOME': '/root'}, "
      "compare.kernel_env(compare.cpu_flags('flags : ' + arg), 'native'), 2)",
      kAvx2OnlyEpyc);
  EXPECT_EQ(env, (nlohmann::json{{"HOME", "/root"}, {"OPENBLAS_CORETYPE", "Haswell"}, {"OMP_NUM_THREADS", "2"}}));
}

TEST(Compare, IsaCapRefusedWithoutAvx2AndUnknownIsa) {
  if (!have_python()) GTEST_SKIP() << "no /usr/bin/python3";
  const testing::ScratchDir dir("t5scale_compare_refuse");
  const std::string snippet = "import sys; sys.path.insert(0, '" + std::string(T5SCALE_SOURCE_DIR) +
                              "/benchmarks'); import compare; compare.kernel_env(compare.cpu_flags('flags : " +
                              kNoAvx2 + "'), sys.argv[1])";
  for (const char* isa : {"avx2", "avx512"}) {
    const std::string cmd = "/usr/bin/python3 -c \"" + snippet + "\" " + isa + " 2>" + dir.path("err.txt");
    EXPECT_NE(std::system(cmd.c_str()), 0) << isa;
    EXPECT_NE(testing::slurp(dir.path("err.txt")).find("ValueError"), std::string::npos) << isa;
  }
}

}  // namespace
}  // namespace t5
