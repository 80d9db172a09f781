// GEMM ceiling probes (core/ceiling.h): time the model's own largest products, take the median of
// several repetitions per product and the best product as the ceiling.
#include "core/ceiling.h"

#include <algorithm>
#include <chrono>
#include <random>

#include <nlohmann/json.hpp>

#include "core/timing.h"

namespace t5 {
namespace {

// Times C[M,N] = A[M,K] · W[N,K]ᵀ; returns seconds of each timed repetition.
std::vector<double> time_product(const GemmProbe& p, GemmPrecision precision, double budget_seconds) {
  std::mt19937_64 rng(2024);  // operand values do not matter for speed; fixed for determinism
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> A(size_t(p.M * p.K)), W(size_t(p.N * p.K)), C(size_t(p.M * p.N));
  for (float& x : A) x = dist(rng);
  for (float& x : W) x = dist(rng);
  std::vector<bf16> a16, w16;
  if (precision == GemmPrecision::bf16) {
    a16.resize(A.size()), w16.resize(W.size());
    to_bf16(A.data(), a16.data(), int64_t(A.size()));
    to_bf16(W.data(), w16.data(), int64_t(W.size()));
  }
  const auto run = [&] {
    if (precision == GemmPrecision::bf16)
      gemm_bf16(Trans::N, Trans::T, p.M, p.N, p.K, 1.0f, a16.data(), p.K, w16.data(), p.K, 0.0f, C.data(), p.N);
    else
      gemm(Trans::N, Trans::T, p.M, p.N, p.K, 1.0f, A.data(), p.K, W.data(), p.K, 0.0f, C.data(), p.N);
  };
  run();  // warm-up: primitive creation, page faults, caches
  std::vector<double> times;
  const double start = now_seconds();
  while (times.size() < 3 || (now_seconds() - start < budget_seconds && times.size() < 200)) {
    const double t0 = now_seconds();
    run();
    times.push_back(now_seconds() - t0);
  }
  return times;
}

}  // namespace

GemmCeiling measure_gemm_ceiling(const Shape& s, const Lengths& len, GemmPrecision precision,
                                 double budget_seconds) {
  const double start = now_seconds();
  const int64_t tokens = std::min<int64_t>(len.batch * len.inputs, 4096);
  GemmCeiling c;
  c.precision = precision;
  c.path = precision_path(precision);
  c.backend = precision == GemmPrecision::bf16 ? "onednn" : to_string(gemm_backend());
  c.threads = num_threads();
  c.probes = {{"ff_in", tokens, s.ff, s.dm}, {"ff_out", tokens, s.dm, s.ff},
              {"attention_projection", tokens, s.inner(), s.dm}};
  for (GemmProbe& p : c.probes) {
    const std::vector<double> times = time_product(p, precision, budget_seconds / double(c.probes.size()));
    p.repetitions = int64_t(times.size());
    p.median_seconds = median(times);
    p.best_seconds = *std::min_element(times.begin(), times.end());
    p.flops_per_second = 2.0 * double(p.M) * double(p.N) * double(p.K) / p.median_seconds;
    c.flops_per_second = std::max(c.flops_per_second, p.flops_per_second);
  }
  c.seconds = now_seconds() - start;
  return c;
}

nlohmann::json to_json(const GemmCeiling& c) {
  nlohmann::json probes = nlohmann::json::array();
  for (const GemmProbe& p : c.probes)
    probes.push_back({{"name", p.name}, {"M", p.M}, {"N", p.N}, {"K", p.K},
                      {"median_seconds", p.median_seconds}, {"best_seconds", p.best_seconds},
                      {"flops_per_second", p.flops_per_second},
                      {"repetitions", p.repetitions}});
  return {{"precision", to_string(c.precision)}, {"precision_path", to_string(c.path)}, {"backend", c.backend},
          {"threads", c.threads},
          {"flops_per_second", c.flops_per_second}, {"seconds", c.seconds}, {"probes", probes}};
}

std::string precision_label(const GemmCeiling& c) { return precision_label(c.precision, c.path); }

}  // namespace t5
