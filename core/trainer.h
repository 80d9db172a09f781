// The training loop shared by every variant of every sweep: gradient accumulation over micro-batches
// into the model's one gradient buffer, the optimizer step under a schedule, divergence detection,
// periodic held-out evaluation (mean cross entropy over all eval label tokens) and training
// checkpoints from which a resumed run continues bit-identically (SPEC.md §7; issue 3).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/batch.h"
#include "core/optimizer.h"
#include "core/schedule.h"

namespace t5 {

class Model;

struct TrainConfig {
  int64_t steps = 0;             // optimizer steps to reach (a resumed run continues up to this)
  int64_t batch = 0;             // examples per optimizer step = grad_accum x the source's micro-batch
  int64_t inputs_length = 0;     // recorded; the sources fix the geometry
  int64_t targets_length = 0;
  int64_t grad_accum = 1;        // micro-batches per step
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  int64_t eval_every = 0;        // 0 = no periodic eval (a final eval still runs when eval data is given)
  int64_t eval_batches = 1;      // batches per eval (the eval source restarts from its start each time)
  int64_t checkpoint_every = 0;  // 0 = only at the end (when checkpoint_dir is set)
  int64_t keep_checkpoints = 2;  // newest step-N directories kept in checkpoint_dir
  std::string checkpoint_dir;    // empty = no checkpoints, no resume
  bool resume = true;            // resume from the newest checkpoint in checkpoint_dir if present
  uint64_t seed = 0;             // dropout masks derive from (seed, step, micro-batch)
  double z_loss = 0.0;           // Mesh TF uses 1e-4
  double dropout = 0.0;
  bool progress = false;         // force the stderr progress line (default: only when stderr is a TTY)
};

struct StepMetrics {
  int64_t step = 0;              // 1-based count of optimizer steps done
  double loss = 0;               // mean CE over the step's label tokens (all micro-batches)
  double z_loss = 0;
  double lr = 0;
  double grad_norm = 0;          // global L2 norm before clipping
  double seconds = 0;            // wall time of this step
  int64_t tokens = 0;            // input + target positions processed (B * (Le + Ld))
  int64_t label_tokens = 0;
};

struct EvalMetrics {
  int64_t step = 0;
  double loss = 0;               // mean CE (nats) over all eval label tokens
  int64_t tokens = 0;            // eval label tokens
};

struct TrainResult {
  std::vector<StepMetrics> steps;   // steps run in this call (not those before a resume)
  std::vector<EvalMetrics> evals;
  bool diverged = false;            // a NaN/inf loss or gradient stopped the run
  int64_t resumed_from = 0;         // step of the checkpoint resumed from (0 = fresh)
  int64_t final_step = 0;
  double seconds = 0;
};

// Trains `model` (already initialised) from `train_data`; resumes from the newest checkpoint in
// config.checkpoint_dir when there is one (model, optimizer, step, data position).
TrainResult train(Model& model, BatchSource& train_data, BatchSource* eval_data, const TrainConfig& config,
                  const std::function<void(const StepMetrics&)>& on_step = {},
                  const std::function<void(const EvalMetrics&)>& on_eval = {});

// Mean cross entropy over all label tokens of `batches` batches read from `source`.
EvalMetrics evaluate(Model& model, BatchSource& source, int64_t batches);

// Newest complete checkpoint directory ("DIR/step-000123") in `dir`, or "" if none.
std::string latest_checkpoint(const std::string& dir);

}  // namespace t5
