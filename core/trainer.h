// The training loop shared by every variant of every sweep: gradient accumulation over micro-batches
// into the model's one gradient buffer, the optimizer step under a schedule, divergence detection,
// periodic held-out evaluation (mean cross entropy over all eval label tokens) and training
// checkpoints from which a resumed run continues bit-identically (SPEC.md §7; issue 3).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/batch.h"
#include "core/collective.h"
#include "core/model.h"
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
  std::string checkpoint_dir;    // the checkpoint directory (core/checkpoint.h), replaced whole on
                                 // each save; empty = no checkpoints, no resume
  bool resume = true;            // continue from checkpoint_dir when it holds a checkpoint
  uint64_t seed = 0;             // dropout masks derive from (seed, step, micro-batch)
  double z_loss = 0.0;           // Mesh TF uses 1e-4
  double dropout = 0.0;
  Precision precision = Precision::fp32;  // of the training passes (bf16: mixed precision, issue 6);
                                          // held-out evaluation always runs fp32
  bool progress = false;         // force the stderr progress line (default: only when stderr is a TTY)
  int64_t progress_total = 0;    // the step the progress line's ETA counts to (0 = steps); a caller that
                                 // trains in chunks (fine-tuning between validations) gives its last step
  bool announce_resume = true;   // say "resumed from ..." (a chunked caller resumes by design each chunk)
  // Data parallelism (issue 15): null = one process. Else every rank reads the same whole stream
  // (so the position a checkpoint keeps is the job's), runs forward/backward on its slice of the rows
  // of every micro-batch (rank r: rows [r·b/K, (r+1)·b/K)), weighted by its label tokens' share of the
  // whole step's, and the gradients are summed before the norm and the identical optimizer step: the
  // single-process step up to the order of the sums. Rank 0 alone writes checkpoints. Not owned.
  Collective* collective = nullptr;
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
  int64_t batches = 0;           // eval batches read
  // The sampling noise of `loss` over eval batches (issue 16): the standard error of a ratio estimate
  // with batches as the sampled units, loss = Σs_b / Σt_b (s_b summed CE, t_b label tokens of batch b),
  //   SE = sqrt(B/(B−1) · Σ_b (s_b − loss·t_b)²) / Σ_b t_b,
  // which is std(batch losses)/sqrt(B) when every batch has the same tokens. NaN with one batch.
  double loss_standard_error = 0;
  // Each batch's mean CE and label tokens, in reading order: every evaluation reads the same batches,
  // so two runs' losses can be compared batch by batch (a paired standard error, results/report.cpp).
  std::vector<double> batch_losses;
  std::vector<int64_t> batch_tokens;
};

struct TrainResult {
  std::vector<StepMetrics> steps;   // steps run in this call (not those before a resume)
  std::vector<EvalMetrics> evals;
  bool diverged = false;            // a NaN/inf loss or gradient stopped the run
  std::string stop_reason;          // "" when all steps ran, else why the run stopped
  int64_t resumed_from = 0;         // step of the checkpoint resumed from (0 = fresh)
  int64_t final_step = 0;
  double seconds = 0;
};

// Trains `model` (already initialised) from `train_data`; resumes from config.checkpoint_dir when it
// holds a checkpoint (model, optimizer state, step, data position), which must come from the same
// optimizer configuration and data stream. When an interrupt is requested (core/interrupt.h), stops
// after the step in progress, checkpoints it (when checkpoint_dir is set) and throws t5::Interrupted.
TrainResult train(Model& model, BatchSource& train_data, BatchSource* eval_data, const TrainConfig& config,
                  const std::function<void(const StepMetrics&)>& on_step = {},
                  const std::function<void(const EvalMetrics&)>& on_eval = {});

// Mean cross entropy over all label tokens of `batches` batches read from `source`, with its
// standard error over the batches. With a collective of K ranks each evaluates its slice of the rows
// of every batch and the per-batch sums are summed: the same numbers as one process (up to the order
// of the sums).
EvalMetrics evaluate(Model& model, BatchSource& source, int64_t batches, Collective* collective = nullptr);

// The ratio estimator's standard error of Σs_b / Σt_b over batches of (summed CE s_b, label tokens
// t_b) (EvalMetrics::loss_standard_error); NaN with fewer than two batches or no tokens.
double eval_standard_error(const std::vector<std::pair<double, int64_t>>& batches);

}  // namespace t5
