// The GEMM ceiling probe (core/ceiling.h): probes follow the shape, the rate is 2·M·N·K over a time
// that agrees with an independent stopwatch around the same product, and it stays within its budget.
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/ceiling.h"
#include "core/names.h"

namespace t5 {
namespace {

TEST(Ceiling, ProbesFollowTheShape) {
  const Shape s = parse_shape_name("t5-efficient-tiny");
  const GemmCeiling c = measure_gemm_ceiling(s, {.inputs = 16, .targets = 4, .batch = 8}, GemmPrecision::fp32, 0.05);
  ASSERT_EQ(c.probes.size(), 3u);
  EXPECT_EQ(c.probes[0].M, 8 * 16);  // tokens = batch * inputs length below the cap
  EXPECT_EQ(c.probes[0].N, s.ff);
  EXPECT_EQ(c.probes[0].K, s.dm);
  EXPECT_EQ(c.probes[1].N, s.dm);
  EXPECT_EQ(c.probes[1].K, s.ff);
  EXPECT_EQ(c.probes[2].N, s.inner());
  double best = 0;
  for (const GemmProbe& p : c.probes) {
    EXPECT_GE(p.repetitions, 3);
    EXPECT_DOUBLE_EQ(p.flops_per_second, 2.0 * double(p.M * p.N * p.K) / p.median_seconds);
    best = std::max(best, p.flops_per_second);
  }
  EXPECT_EQ(c.flops_per_second, best);
  const GemmCeiling capped = measure_gemm_ceiling(s, {.inputs = 512, .targets = 4, .batch = 64},
                                                  GemmPrecision::fp32, 0.05);
  EXPECT_EQ(capped.probes[0].M, 4096);
  const nlohmann::json j = to_json(c);
  EXPECT_EQ(j["precision"], "fp32");
  EXPECT_EQ(j["probes"].size(), 3u);
}

// The first probe's fastest repetition against a stopwatch around the same product, best of several
// runs (the best of several is stable on a loaded machine, a median is not). They only have to agree
// within a factor of 10: this catches unit mistakes (ms for s, FLOPs for multiply-adds), not drifts.
// One thread: on a loaded machine a two-thread product waits for whichever thread is descheduled.
TEST(Ceiling, RateAgreesWithAStopwatch) {
  const int threads = num_threads();
  set_num_threads(1);
  for (GemmPrecision precision : {GemmPrecision::fp32, GemmPrecision::bf16}) {
    const Shape s = parse_shape_name("t5-efficient-tiny");
    const Lengths len{.inputs = 128, .targets = 4, .batch = 8};
    const GemmCeiling c = measure_gemm_ceiling(s, len, precision, 0.3);
    EXPECT_LT(c.seconds, 3.0);
    const int64_t M = 1024, N = s.ff, K = s.dm;
    std::vector<float> A(size_t(M * K), 0.5f), W(size_t(N * K), 0.25f), C(size_t(M * N));
    double best_seconds = 1e30;
    for (int rep = 0; rep < 8; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      if (precision == GemmPrecision::bf16)
        gemm_bf16(Trans::N, Trans::T, M, N, K, 1.0f, A.data(), K, W.data(), K, 0.0f, C.data(), N);
      else
        gemm(Trans::N, Trans::T, M, N, K, 1.0f, A.data(), K, W.data(), K, 0.0f, C.data(), N);
      best_seconds = std::min(best_seconds, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    EXPECT_FLOAT_EQ(C[0], float(K) * 0.125f);
    const double stopwatch = 2.0 * double(M * N * K) / best_seconds;
    const double probe_best = 2.0 * double(M * N * K) / c.probes[0].best_seconds;
    EXPECT_LE(c.probes[0].best_seconds, c.probes[0].median_seconds);
    EXPECT_GT(probe_best, stopwatch / 10) << to_string(precision);
    EXPECT_LT(probe_best, stopwatch * 10) << to_string(precision);
  }
  set_num_threads(threads);
}

// The ceiling records the path its products took (core/gemm.h): bf16 emulated when forced (or on a
// CPU without a bf16 matmul), native when oneDNN has one; fp32 always native. Its label says so.
TEST(Ceiling, RecordsTheBf16Path) {
  const Shape s = parse_shape_name("t5-efficient-tiny");
  const Lengths len{.inputs = 16, .targets = 4, .batch = 4};
  const GemmCeiling probed = measure_gemm_ceiling(s, len, GemmPrecision::bf16, 0.03);
  EXPECT_EQ(probed.path, bf16_matmul_native() ? PrecisionPath::native : PrecisionPath::emulated);
  EXPECT_EQ(to_json(probed)["precision_path"], to_string(probed.path));
  force_bf16_emulation(true);
  const GemmCeiling emulated = measure_gemm_ceiling(s, len, GemmPrecision::bf16, 0.03);
  const GemmCeiling fp32 = measure_gemm_ceiling(s, len, GemmPrecision::fp32, 0.03);
  force_bf16_emulation(false);
  EXPECT_EQ(emulated.path, PrecisionPath::emulated);
  EXPECT_GT(emulated.flops_per_second, 0.0);
  EXPECT_EQ(precision_label(emulated), "bf16 (emulated)");
  const nlohmann::json j = to_json(emulated);
  EXPECT_EQ(j["precision"], "bf16");  // reports group by it
  EXPECT_EQ(j["precision_path"], "emulated");
  EXPECT_EQ(fp32.path, PrecisionPath::native);
  EXPECT_EQ(precision_label(fp32), "fp32");
}

}  // namespace
}  // namespace t5
