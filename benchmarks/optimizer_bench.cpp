// Microbenchmarks of the optimizer phase of a training step over the parameter table of
// t5-efficient-tiny (15.6M parameters): one AdamW and one Adafactor update of the whole buffer, and the
// global gradient norm. The update is memory bound, so besides nominal FLOP/s each reports the bytes
// it must stream per update (read and written) as a rate, to compare with the machine's bandwidth.
// The updates are tested against their references in tests/optimizer_test.cpp.
//   build/benchmarks/optimizer_bench --benchmark_filter=adamw
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "core/names.h"
#include "core/optimizer.h"
#include "core/param_table.h"

namespace t5 {
namespace {

const ParamTable& tiny_table() {
  static const ParamTable table(resolve_shape("t5-efficient-tiny"));
  return table;
}

std::vector<float> random_vec(int64_t n, uint64_t seed, float scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

void set_rates(benchmark::State& state, double flops, double bytes) {
  const double it = double(state.iterations());
  state.counters["FLOP/s"] = benchmark::Counter(flops * it, benchmark::Counter::kIsRate);
  state.counters["bytes/s"] = benchmark::Counter(bytes * it, benchmark::Counter::kIsRate);
}

void run_update(benchmark::State& state, const OptimizerConfig& config, double flops_per_param,
                double bytes_per_param) {
  const ParamTable& table = tiny_table();
  const int64_t n = table.total();
  std::vector<float> params = random_vec(n, 1, 0.05f);
  const std::vector<float> grads = random_vec(n, 2, 1e-3f);
  const std::unique_ptr<Optimizer> opt = make_optimizer(config, table);
  for (auto _ : state) {
    opt->step(params.data(), grads.data(), 1e-3);
    benchmark::DoNotOptimize(params.data());
  }
  set_rates(state, flops_per_param * double(n), bytes_per_param * double(n));
}

// AdamW: reads param, grad, m, v and writes param, m, v (7 floats); about 12 FLOPs per element
// (two moment updates, the bias-corrected step with a square root and a divide, decoupled decay).
void BM_adamw_update(benchmark::State& state) {
  OptimizerConfig c;
  c.name = "adamw";
  c.weight_decay = 0.01;
  run_update(state, c, 12.0, 7.0 * sizeof(float));
}

// Adafactor (factored, Mesh TF defaults): the update reads param and grad twice (row/column second
// moments, then the update with its RMS clip) and writes param (5 floats); about 15 FLOPs per element.
void BM_adafactor_update(benchmark::State& state) {
  OptimizerConfig c;
  c.name = "adafactor";
  run_update(state, c, 15.0, 5.0 * sizeof(float));
}

// The global L2 norm used for clipping: one read of the gradient, a multiply-add per element.
void BM_global_norm(benchmark::State& state) {
  const int64_t n = tiny_table().total();
  const std::vector<float> grads = random_vec(n, 3, 1e-3f);
  for (auto _ : state) benchmark::DoNotOptimize(global_norm(grads.data(), n));
  set_rates(state, 2.0 * double(n), double(sizeof(float)) * double(n));
}

BENCHMARK(BM_adamw_update)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_adafactor_update)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_global_norm)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace t5

BENCHMARK_MAIN();
