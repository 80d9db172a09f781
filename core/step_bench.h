// Timing of whole training steps (forward + backward + optimizer) at one shape, the measurement behind
// `t5scale bench` and the PyTorch comparison (benchmarks/compare.py). The GEMM ceiling is measured in
// the same process right after the steps (MFU = achieved FLOP/s / ceiling), tokens are
// batch * (inputs + targets) and FLOPs are the exact matmul count of SPEC.md §3 (core/counts.h).
// The per-component breakdown comes from core/profile.h laps inside the timed forward_backward calls.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/batch.h"
#include "core/ceiling.h"
#include "core/counts.h"
#include "core/gemm.h"
#include "core/shape.h"

namespace t5 {

struct StepBenchConfig {
  Shape shape;
  Lengths lengths{.inputs = 128, .targets = 29, .batch = 32};
  GemmPrecision precision = GemmPrecision::fp32;
  std::string optimizer = "adamw";   // "adamw" (the peer's) | "adafactor"
  int threads = 0;                   // 0 = keep the process default
  int warmup_steps = 2;
  int timed_steps = 5;
  uint64_t seed = 0;
  double ceiling_budget_seconds = 0.3;
};

// Median seconds per step of each phase; forward is timed by a separate forward-only pass
// (Model::evaluate) of the same batch, backward = forward_backward - forward.
struct StepPhases {
  double forward_backward = 0;
  double forward = 0;
  double backward = 0;
  double optimizer = 0;
};

// One row of the breakdown: a component of the model summed over layers (core/profile.h), or the
// optimizer's update. Times are those of the median forward_backward step (the mean of the two
// middle steps for an even count), so the model's components nest inside phases.forward_backward;
// the optimizer row is phases.optimizer.
struct ComponentTime {
  std::string component;           // to_string(Component) or "optimizer"
  double forward_seconds = 0;
  double backward_seconds = 0;     // the output head's forward includes the fused loss gradient
  double seconds = 0;              // forward + backward, or the optimizer's update
  double share_of_step = 0;        // seconds / median_step_seconds
  double flops = 0;                // SPEC §3 matmul FLOPs per step (0 for norms, embeddings, optimizer)
  double flops_per_second = 0;     // flops / seconds (0 when flops is 0)
};

struct StepBenchResult {
  StepBenchConfig config;
  PrecisionPath precision_path = PrecisionPath::native;  // of the timed steps' products (core/gemm.h)
  int threads = 0;
  std::vector<double> step_seconds;   // every timed step (forward_backward + optimizer)
  double median_step_seconds = 0;
  StepPhases phases;
  int64_t tokens_per_step = 0;        // batch * (inputs + targets)
  double flops_per_step = 0;          // SPEC §3 train_per_step
  double tokens_per_second = 0;
  double flops_per_second = 0;
  GemmCeiling ceiling;                // of config.precision
  double mfu = 0;                     // flops_per_second / ceiling.flops_per_second
  int64_t peak_rss_bytes = 0;         // of the process after the timed steps, before the ceiling probe
  MemoryEstimate memory_estimate;     // core/counts.h for the same optimizer
  double loss_first = 0, loss_last = 0;
  std::vector<ComponentTime> breakdown;   // the model's components in pass order, then the optimizer
  double breakdown_rest_seconds = 0;      // phases.forward_backward outside the components (batch checks, bf16 mirror)
};

// A full batch of seeded random tokens (ids in [3, vocab)), no padding: the peer times the same kind.
Batch random_full_batch(const Lengths& lengths, int64_t vocab_size, uint64_t seed);

// Peak resident set size of this process so far (getrusage), in bytes.
int64_t peak_rss_bytes();

StepBenchResult run_step_bench(const StepBenchConfig& config);

nlohmann::json to_json(const StepBenchResult& r);

}  // namespace t5
