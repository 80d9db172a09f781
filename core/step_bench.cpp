// Whole-step timing (core/step_bench.h): warm-up steps, then timed steps of forward_backward +
// optimizer on one fixed random batch, a forward-only pass per step for the phase split, peak RSS,
// then the GEMM ceiling in the same process.
#include "core/step_bench.h"

#include <algorithm>
#include <chrono>
#include <random>

#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/init.h"
#include "core/model.h"
#include "core/optimizer.h"
#include "core/timing.h"

namespace t5 {

Batch random_full_batch(const Lengths& len, int64_t vocab_size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> token(3, int32_t(vocab_size - 1));
  Batch b;
  b.batch = len.batch, b.inputs_length = len.inputs, b.targets_length = len.targets;
  const size_t ne = size_t(len.batch * len.inputs), nd = size_t(len.batch * len.targets);
  b.input_ids.resize(ne);
  for (int32_t& t : b.input_ids) t = token(rng);
  b.encoder_segment_ids.assign(ne, 1);
  b.labels.resize(nd);
  for (int32_t& t : b.labels) t = token(rng);
  b.decoder_segment_ids.assign(nd, 1);
  b.decoder_input_ids.resize(nd);
  for (int64_t r = 0; r < len.batch; ++r)
    for (int64_t j = 0; j < len.targets; ++j)
      b.decoder_input_ids[size_t(r * len.targets + j)] = j == 0 ? kDecoderStartId : b.labels[size_t(r * len.targets + j - 1)];
  return b;
}

int64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return int64_t(usage.ru_maxrss) * 1024;  // Linux reports kilobytes
}

StepBenchResult run_step_bench(const StepBenchConfig& config) {
  T5_CHECK(config.timed_steps > 0, "bench: --steps must be positive, got {}", config.timed_steps);
  T5_CHECK(config.warmup_steps >= 0, "bench: --warmup must not be negative, got {}", config.warmup_steps);
  set_num_threads(config.threads);
  StepBenchResult r;
  r.config = config;
  r.threads = num_threads();
  Model model(config.shape);
  init_params(model.table(), model.params(), config.seed);
  OptimizerConfig oc;
  oc.name = config.optimizer;
  std::unique_ptr<Optimizer> optimizer = make_optimizer(oc, model.table());
  const Batch batch = random_full_batch(config.lengths, config.shape.vocab_size, config.seed + 1);
  ForwardOptions fo;
  fo.precision = config.precision == GemmPrecision::bf16 ? Precision::bf16 : Precision::fp32;

  std::vector<double> fb, fwd, opt;
  for (int i = 0; i < config.warmup_steps + config.timed_steps; ++i) {
    const bool timed = i >= config.warmup_steps;
    const double t0 = now_seconds();
    model.zero_grads();
    const LossResult loss = model.forward_backward(batch, fo);
    const double t1 = now_seconds();
    optimizer->step(model.params(), model.grads(), 1e-3);
    const double t2 = now_seconds();
    if (!timed) continue;
    fb.push_back(t1 - t0), opt.push_back(t2 - t1), r.step_seconds.push_back(t2 - t0);
    if (r.step_seconds.size() == 1) r.loss_first = loss.loss;
    r.loss_last = loss.loss;
    const double t3 = now_seconds();
    model.evaluate(batch, fo);
    fwd.push_back(now_seconds() - t3);
  }
  r.peak_rss_bytes = peak_rss_bytes();
  r.median_step_seconds = median(r.step_seconds);
  r.phases.forward_backward = median(fb);
  r.phases.forward = median(fwd);
  r.phases.backward = std::max(0.0, r.phases.forward_backward - r.phases.forward);
  r.phases.optimizer = median(opt);
  const Lengths& len = config.lengths;
  r.tokens_per_step = len.batch * (len.inputs + len.targets);
  r.flops_per_step = count_flops(config.shape, len).train_per_step;
  r.tokens_per_second = double(r.tokens_per_step) / r.median_step_seconds;
  r.flops_per_second = r.flops_per_step / r.median_step_seconds;
  r.ceiling = measure_gemm_ceiling(config.shape, len, config.precision, config.ceiling_budget_seconds);
  r.mfu = r.flops_per_second / r.ceiling.flops_per_second;
  r.memory_estimate = estimate_memory(config.shape, len,
                                      config.optimizer == "adamw" ? OptimizerKind::adamw : OptimizerKind::adafactor);
  return r;
}

nlohmann::json to_json(const StepBenchResult& r) {
  const StepBenchConfig& c = r.config;
  return {{"implementation", "t5scale"},
          {"model", c.shape.name},
          {"batch", c.lengths.batch},
          {"inputs_length", c.lengths.inputs},
          {"targets_length", c.lengths.targets},
          {"precision", to_string(c.precision)},
          {"optimizer", c.optimizer},
          {"threads", r.threads},
          {"gemm_backend", to_string(gemm_backend())},
          {"warmup_steps", c.warmup_steps},
          {"step_seconds", r.median_step_seconds},
          {"step_seconds_all", r.step_seconds},
          {"phases_seconds", {{"forward_backward", r.phases.forward_backward}, {"forward", r.phases.forward},
                              {"backward", r.phases.backward}, {"optimizer", r.phases.optimizer}}},
          {"tokens_per_step", r.tokens_per_step},
          {"tokens_definition", "batch * (inputs_length + targets_length)"},
          {"tokens_per_second", r.tokens_per_second},
          {"flops_per_step", r.flops_per_step},
          {"flops_per_second", r.flops_per_second},
          {"ceiling", to_json(r.ceiling)},
          {"mfu", r.mfu},
          {"peak_rss_bytes", r.peak_rss_bytes},
          {"memory_estimate", to_json(r.memory_estimate)},
          {"peak_rss_over_estimate", double(r.peak_rss_bytes) / double(r.memory_estimate.training_total_bytes)},
          {"loss_first", r.loss_first},
          {"loss_last", r.loss_last}};
}

}  // namespace t5
