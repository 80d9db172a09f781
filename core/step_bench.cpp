// Whole-step timing (core/step_bench.h): warm-up steps, then timed steps of forward_backward +
// optimizer on one fixed random batch, a forward-only pass per step for the phase split, peak RSS,
// then the GEMM ceiling in the same process. Each timed forward_backward records a step profile
// (core/profile.h); the breakdown is the median step's. Steps run as the trainer's do: the optimizer
// phase includes the fused gradient norm and zeroing (StepOptions).
#include "core/step_bench.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <random>

#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include "core/cpu_isa.h"
#include "core/error.h"
#include "core/init.h"
#include "core/model.h"
#include "core/optimizer.h"
#include "core/profile.h"
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

namespace {

// The profile of the median step by forward_backward time (the mean of the two middle steps' for
// an even count, as median() does), so its components sum to at most median(fb).
StepProfile median_step_profile(const std::vector<double>& fb, const std::vector<StepProfile>& profiles) {
  std::vector<size_t> order(fb.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return fb[a] < fb[b]; });
  const size_t n = order.size();
  std::vector<size_t> middle = {order[n / 2]};
  if (n % 2 == 0) middle = {order[n / 2 - 1], order[n / 2]};
  StepProfile mean;
  for (size_t i : middle)
    for (size_t c = 0; c < mean.seconds.size(); ++c)
      for (size_t d = 0; d < 2; ++d) mean.seconds[c][d] += profiles[i].seconds[c][d] / double(middle.size());
  return mean;
}

ComponentTime component_row(std::string name, double forward, double backward, double seconds, double flops,
                            double step_seconds) {
  return ComponentTime{.component = std::move(name), .forward_seconds = forward, .backward_seconds = backward,
                       .seconds = seconds, .share_of_step = seconds / step_seconds, .flops = flops,
                       .flops_per_second = flops > 0 && seconds > 0 ? flops / seconds : 0.0};
}

}  // namespace

StepBenchResult run_step_bench(const StepBenchConfig& config) {
  // The commands check their own options (bench --steps, batches --bench --train-steps) by name first.
  T5_CHECK(config.timed_steps > 0, "timed steps must be positive, got {}", config.timed_steps);
  T5_CHECK(config.warmup_steps >= 0, "warm-up steps must not be negative, got {}", config.warmup_steps);
  set_num_threads(config.threads);
  StepBenchResult r;
  r.config = config;
  r.threads = num_threads();
  r.precision_path = precision_path(config.precision);
  Model model(config.shape);
  init_params(model.table(), model.params(), config.seed);
  OptimizerConfig oc;
  oc.name = config.optimizer;
  std::unique_ptr<Optimizer> optimizer = make_optimizer(oc, model.table());
  const Batch batch = random_full_batch(config.lengths, config.shape.vocab_size, config.seed + 1);
  ForwardOptions fo;
  fo.precision = config.precision == GemmPrecision::bf16 ? Precision::bf16 : Precision::fp32;

  std::vector<double> fb, fwd, opt;
  std::vector<StepProfile> profiles;
  model.zero_grads();  // once: the trainer's fused update (StepOptions) zeroes them after each step
  for (int i = 0; i < config.warmup_steps + config.timed_steps; ++i) {
    const bool timed = i >= config.warmup_steps;
    StepProfile profile;
    std::optional<ProfileScope> recording;
    if (timed) recording.emplace(profile);
    const double t0 = now_seconds();
    const LossResult loss = model.forward_backward(batch, fo);
    const double t1 = now_seconds();
    recording.reset();
    optimizer->step(model.params(), model.grads(), 1e-3, StepOptions{.zero_grads = true});
    const double t2 = now_seconds();
    if (!timed) continue;
    fb.push_back(t1 - t0), opt.push_back(t2 - t1), r.step_seconds.push_back(t2 - t0);
    profiles.push_back(profile);
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
  const FlopBreakdown flops = count_flops(config.shape, len);
  const StepProfile step = median_step_profile(fb, profiles);
  for (int i = 0; i < kNumComponents; ++i) {
    const StepComponent c = StepComponent(i);
    const double f = step.at(c, Direction::forward), b = step.at(c, Direction::backward);
    r.breakdown.push_back(component_row(to_string(c), f, b, f + b, component_flops_per_step(c, flops, len.batch),
                                        r.median_step_seconds));
  }
  r.breakdown.push_back(component_row("optimizer", 0, 0, r.phases.optimizer, 0, r.median_step_seconds));
  r.breakdown_rest_seconds = std::max(0.0, r.phases.forward_backward - step.total());
  r.memory_estimate = estimate_memory(config.shape, len,
                                      config.optimizer == "adamw" ? OptimizerKind::adamw : OptimizerKind::adafactor);
  return r;
}

static nlohmann::json breakdown_json(const std::vector<ComponentTime>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const ComponentTime& c : rows) {
    const nlohmann::json gflops = c.flops > 0 ? nlohmann::json(c.flops_per_second / 1e9) : nlohmann::json(nullptr);
    out.push_back({{"component", c.component}, {"forward_seconds", c.forward_seconds},
                   {"backward_seconds", c.backward_seconds}, {"seconds", c.seconds},
                   {"share_of_step_percent", 100.0 * c.share_of_step}, {"flops", c.flops},
                   {"gflops_per_second", gflops}});
  }
  return out;
}

nlohmann::json to_json(const StepBenchResult& r) {
  const StepBenchConfig& c = r.config;
  return {{"implementation", "t5scale"},
          {"model", c.shape.name},
          {"batch", c.lengths.batch},
          {"inputs_length", c.lengths.inputs},
          {"targets_length", c.lengths.targets},
          {"precision", to_string(c.precision)},
          {"precision_path", to_string(r.precision_path)},
          {"precision_label", precision_label(c.precision, r.precision_path)},
          {"optimizer", c.optimizer},
          {"threads", r.threads},
          {"gemm_backend", to_string(gemm_backend())},
          {"cpu_isa", cpu_context()},
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
          {"loss_last", r.loss_last},
          {"breakdown", breakdown_json(r.breakdown)},
          {"breakdown_rest_seconds", r.breakdown_rest_seconds}};
}

}  // namespace t5
