// The one binary on CPUs it was not built on, for real (issue 13): qemu-user's TCG runs it as an
// AVX2-only Haswell (no AVX-512: such an instruction there is SIGILL) and as a Nehalem (SSE4.2, the
// x86-64-v2 baseline the build targets, no AVX at all), with the CPUID of those CPUs. The binary must
// start, detect the level, choose its kernels, cap oneDNN and OpenBLAS to it, emulate bf16 where there
// is no bf16 matmul, and train. qemu is slow (about 100x): start-up and one tiny step only. Skipped
// with a printed reason where qemu-x86_64 is not installed (scripts/bootstrap.sh installs qemu-user).
#include <cmath>
#include <cstdlib>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/cli_runner.h"

namespace t5 {
namespace {

using ::testing::HasSubstr;
using testing::t5scale_under;

bool have_qemu() { return std::system("command -v qemu-x86_64 >/dev/null 2>&1") == 0; }

// The environment of a shell that set nothing: the test run's own caps must not leak in.
const std::string kClean = "env -u T5SCALE_MAX_CPU_ISA -u ONEDNN_MAX_CPU_ISA -u DNNL_MAX_CPU_ISA -u OPENBLAS_CORETYPE "
                           "-u T5SCALE_BF16_EMULATE -u T5SCALE_KEEP_OPENBLAS_CORETYPE";

// `t5scale --version` as `cpu` (a qemu CPU model) runs it; the test skips where qemu is missing.
testing::CommandResult version_on(const std::string& cpu) {
  return t5scale_under(kClean + " qemu-x86_64 -cpu " + cpu, "--version");
}

TEST(Portable, StartsOnAnAvx2OnlyCpuWithItsKernelsAndEmulatedBf16) {
  if (!have_qemu()) GTEST_SKIP() << "qemu-x86_64 not installed (apt-get install qemu-user)";
  const testing::CommandResult r = version_on("Haswell");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("isa: avx2 (x86-64-v3; AVX2 FMA no AVX-512 no AMX); kernels avx2, oneDNN avx2, "
                               "bf16 matmul emulated"));
  EXPECT_THAT(r.out, HasSubstr("(Haswell)"));  // OpenBLAS's own choice there
}

TEST(Portable, StartsOnAnX86_64V2CpuWithTheBaselineKernels) {
  if (!have_qemu()) GTEST_SKIP() << "qemu-x86_64 not installed (apt-get install qemu-user)";
  const testing::CommandResult r = version_on("Nehalem");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("isa: baseline (x86-64-v2; no AVX-512 no AMX); kernels baseline, oneDNN sse41, "
                               "bf16 matmul emulated"));
}

// One bf16 step of a tiny model as an AVX2-only machine runs it, against this machine capped at AVX2
// (T5SCALE_MAX_CPU_ISA, which also caps oneDNN and OpenBLAS): the same code paths, so the same loss up
// to what the libraries' blocking for another cache may change.
TEST(Portable, TrainsInBf16OnAnAvx2OnlyCpuAsTheCappedRunDoes) {
  if (!have_qemu()) GTEST_SKIP() << "qemu-x86_64 not installed (apt-get install qemu-user)";
  const std::string train =
      "train --model tiny-nl1-dm64-ff128-kv16-nh2 --steps 1 --batch 2 --inputs-length 8 --targets-length 4 "
      "--precision bf16 --threads 1 --seed 3";
  const testing::CommandResult emulated_cpu = t5scale_under(kClean + " qemu-x86_64 -cpu Haswell", train);
  ASSERT_EQ(emulated_cpu.exit_code, 0) << emulated_cpu.err;
  const testing::CommandResult capped = t5scale_under(kClean + " T5SCALE_MAX_CPU_ISA=avx2", train);
  ASSERT_EQ(capped.exit_code, 0) << capped.err;
  EXPECT_THAT(emulated_cpu.err, HasSubstr("; bf16 (emulated)\n"));  // train's opening line (after qemu's notes)
  const auto summary = [](const std::string& out) {  // train's last stdout line
    const size_t end = out.find_last_not_of('\n'), begin = out.rfind('\n', end);
    return nlohmann::json::parse(out.substr(begin == std::string::npos ? 0 : begin + 1, end + 1));
  };
  // The summary's cpu_isa block says what ran: qemu's Haswell as detected (its CPUID brand string), the
  // capped AVX-512 machine as capped; both on avx2 kernels, oneDNN avx2 and emulated bf16.
  const nlohmann::json as_haswell = summary(emulated_cpu.out)["cpu_isa"], as_capped = summary(capped.out)["cpu_isa"];
  EXPECT_THAT(as_haswell["model"].get<std::string>(), HasSubstr("Haswell"));
  EXPECT_EQ(as_haswell["isa_detected"], "avx2");
  EXPECT_EQ(as_haswell["isa_capped"], false);
  EXPECT_EQ(as_haswell["features"]["avx512f"], false);
  EXPECT_EQ(as_capped["isa_active"], "avx2");
  for (const nlohmann::json* c : {&as_haswell, &as_capped}) {
    EXPECT_EQ((*c)["kernels"], "avx2") << c->dump();
    EXPECT_EQ((*c)["onednn_isa"], "avx2") << c->dump();
    EXPECT_EQ((*c)["bf16_matmul"], "emulated") << c->dump();
  }
  const double a = summary(emulated_cpu.out)["final_loss"].get<double>();
  const double b = summary(capped.out)["final_loss"].get<double>();
  EXPECT_TRUE(std::isfinite(a)) << emulated_cpu.out;
  EXPECT_NEAR(a, b, 1e-5 * std::abs(b)) << emulated_cpu.out << "\n" << capped.out;
}

// A malformed cap is the user's input: one line naming the variable and the value, exit 1, for
// --version and for any command (before it does any work).
TEST(Portable, AMalformedCapIsOneLineNamingTheVariable) {
  const testing::ScopedEnv bad({{"T5SCALE_MAX_CPU_ISA", "avx3"}});
  const std::string what = "environment variable T5SCALE_MAX_CPU_ISA: unknown instruction-set level 'avx3'";
  testing::expect_one_line_error(testing::t5scale("--version"), "--version", what);
  testing::expect_one_line_error(testing::t5scale("info tiny"), "info", what);
}

}  // namespace
}  // namespace t5
