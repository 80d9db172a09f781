// The training loop (core/trainer.h). One optimizer step: forward/backward every micro-batch into the
// zeroed gradient buffer (each weighted by its share of the step's label tokens, so accumulation
// equals one big batch), with K data-parallel ranks the sum of the gradients over ranks (each rank ran
// its slice of the rows; TrainConfig::collective), global gradient norm, divergence check, schedule,
// optimizer update, which also zeroes the gradients for the next step (StepOptions). Dropout seeds
// derive from (seed, step, micro-batch, rank), so the only state a resume needs is the weights, the
// optimizer state, the step and the data position.
#include "core/trainer.h"

#include <chrono>
#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/interrupt.h"
#include "core/model.h"
#include "core/progress.h"

namespace t5 {

namespace {

constexpr int kStateFormat = 1;

uint64_t mix_seed(uint64_t seed, int64_t step, int64_t micro) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * uint64_t(step + 1) + 0xC2B2AE3D27D4EB4Full * uint64_t(micro + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

nlohmann::json state_json(const TrainConfig& config, int64_t step, const BatchSource& data) {
  return {{"format", kStateFormat},
          {"step", step},
          {"rng", {{"seed", config.seed}, {"dropout_seed", "splitmix64(seed, step, micro_batch)"}}},
          {"data_position", data.position()},
          {"data", data.describe()},
          {"optimizer", optimizer_config_to_json(config.optimizer)},
          {"schedule", schedule_config_to_json(config.schedule)},
          {"batch", config.batch},
          {"grad_accum", config.grad_accum},
          {"z_loss", config.z_loss},
          {"dropout", config.dropout},
          {"precision", to_string(config.precision)}};
}

// The hint of every damaged-checkpoint error: the file is ours, so a bad one was damaged or edited.
constexpr const char* kDamagedHint =
    "the checkpoint was damaged or edited: restore it, or delete the directory to start again at step 0";

// The keys of state.json a resume reads, checked before any is used, so a damaged file is one line
// naming the key instead of an exception from inside a comparison.
void check_state_keys(const nlohmann::json& s, const std::string& where) {
  T5_CHECK_HINT(s.is_object(), kDamagedHint, "{}: not a JSON object", where);
  for (const char* key : {"format", "step", "rng", "optimizer", "data", "grad_accum", "data_position"})
    T5_CHECK_HINT(s.contains(key), kDamagedHint, "{}: key '{}' is missing", where, key);
  const auto integer = [&](const nlohmann::json& v, const char* key) {
    T5_CHECK_HINT(v.is_number_integer() && v.get<int64_t>() >= 0, kDamagedHint,
                  "{}: key '{}': expected a non-negative integer, got {}", where, key, v.dump());
  };
  integer(s["format"], "format");
  integer(s["step"], "step");
  integer(s["grad_accum"], "grad_accum");
  T5_CHECK_HINT(s["rng"].is_object() && s["rng"].contains("seed"), kDamagedHint, "{}: key 'rng.seed' is missing", where);
  integer(s["rng"]["seed"], "rng.seed");
  T5_CHECK_HINT(s["data"].is_string(), kDamagedHint, "{}: key 'data': expected a string, got {}", where,
                s["data"].dump());
}

// FNV-1a over the bytes of the parameters: ranks compare it to know they hold the same weights.
uint64_t params_fingerprint(const Model& model) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(model.params());
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < size_t(model.num_params()) * sizeof(float); ++i) h = (h ^ bytes[i]) * 0x100000001b3ull;
  return h;
}

// Data parallelism: the ranks must start (and stay) on the same weights and step, or their
// gradients would be summed over different models.
void check_ranks_agree(Collective* collective, const Model& model, int64_t step, const TrainConfig& config,
                       const char* when) {
  if (!collective) return;
  // Every rank sees the same minimum and maximum, so every rank throws the same error (one line).
  const auto [lo, hi] = collective->min_max(uint64_t(step));
  if (lo != hi)
    throw SameOnEveryRank(
        fmt::format("data parallelism: {} the ranks are at different steps ({} to {}) of checkpoint directory {}",
                    when, lo, hi, config.checkpoint_dir),
        "the checkpoint directory must be one every rank sees (a shared filesystem, the same path)");
  const auto [wlo, whi] = collective->min_max(params_fingerprint(model));
  if (wlo != whi)
    throw SameOnEveryRank(fmt::format("data parallelism: {} the ranks hold different weights", when),
                          "start every rank from the same --init-seed or --weights");
}

// Restores model, optimizer and data position from `dir`; returns the checkpoint's step.
int64_t resume_from(const std::string& dir, Model& model, Optimizer& optimizer, BatchSource& data,
                    const TrainConfig& config) {
  TrainingCheckpoint ckpt = load_training_checkpoint(dir, model.table(), model.params());
  const nlohmann::json& s = ckpt.state;
  const std::string where = dir + "/state.json";
  check_state_keys(s, where);
  T5_CHECK(s["format"] == kStateFormat, "{}: unsupported state format {}", where, s["format"].dump());
  T5_CHECK_HINT(s["optimizer"] == optimizer_config_to_json(config.optimizer),
                "resume with the same optimizer settings, or use a new --checkpoint-dir",
                "{}: optimizer settings differ from this run's: checkpoint {} vs {}", where, s["optimizer"].dump(),
                optimizer_config_to_json(config.optimizer).dump());
  T5_CHECK_HINT(s["data"] == data.describe() && s["grad_accum"] == config.grad_accum &&
                    s["rng"]["seed"] == config.seed,
                "resume with the same data, batch, grad accumulation and seed, or use a new --checkpoint-dir",
                "{}: the checkpoint was written for another data stream ({}, grad_accum {}, seed {})", where,
                s["data"].get<std::string>(), s["grad_accum"].get<int64_t>(), s["rng"]["seed"].get<uint64_t>());
  // Errors of the parts below name their file and key: the optimizer's own say only what is wrong.
  try {
    optimizer.load_state(ckpt.optimizer_state);
  } catch (const Error& e) {
    throw Error(fmt::format("{}/optimizer.safetensors: {}", dir, e.message()), e.hint());
  }
  const int64_t step = s["step"].get<int64_t>();
  T5_CHECK(optimizer.step_count() == step, "{}: step {} but the optimizer state has {} steps", where, step,
           optimizer.step_count());
  try {
    data.seek(s["data_position"]);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: key 'data_position': {}", where, e.message()), e.hint());
  }
  return step;
}

// Rank r's slice of the rows of a micro-batch (the whole batch for one process).
Batch rank_rows(Batch b, const Collective* collective) {
  if (!collective || collective->size() == 1) return b;
  const int64_t k = collective->size();
  T5_CHECK_HINT(b.batch % k == 0, "choose --batch / --grad-accum (the micro-batch) a multiple of the ranks",
                "data parallelism: a micro-batch of {} rows does not split over {} ranks", b.batch, k);
  const int64_t rows = b.batch / k;
  return batch_rows(b, collective->rank() * rows, rows);
}

}  // namespace

EvalMetrics evaluate(Model& model, BatchSource& source, int64_t batches, Collective* collective) {
  // Per batch: summed cross entropy and label tokens (exact in a double below 2^53). With K ranks each
  // evaluates its rows of every batch and the per-batch sums are summed over the ranks, so the mean and
  // the standard error over batches are one process's.
  std::vector<double> sums(size_t(2 * batches), 0.0);
  for (int64_t i = 0; i < batches; ++i) {
    const LossResult r = model.evaluate(rank_rows(source.next(), collective));
    sums[size_t(2 * i)] = r.sum_cross_entropy;
    sums[size_t(2 * i + 1)] = double(r.label_tokens);
  }
  if (collective) collective->sum(sums.data(), int64_t(sums.size()));
  double sum = 0;
  int64_t tokens = 0;
  std::vector<std::pair<double, int64_t>> per_batch;   // (summed CE, label tokens) for the standard error
  for (int64_t i = 0; i < batches; ++i) {
    sum += sums[size_t(2 * i)];
    tokens += int64_t(sums[size_t(2 * i + 1)]);
    per_batch.emplace_back(sums[size_t(2 * i)], int64_t(sums[size_t(2 * i + 1)]));
  }
  EvalMetrics m;
  m.loss = tokens > 0 ? sum / double(tokens) : 0.0;
  m.tokens = tokens;
  m.batches = batches;
  m.loss_standard_error = eval_standard_error(per_batch);
  for (const auto& [s, t] : per_batch) {
    m.batch_losses.push_back(t > 0 ? s / double(t) : 0.0);
    m.batch_tokens.push_back(t);
  }
  return m;
}

double eval_standard_error(const std::vector<std::pair<double, int64_t>>& batches) {
  double sum = 0, tokens = 0;
  for (const auto& [s, t] : batches) sum += s, tokens += double(t);
  if (batches.size() < 2 || tokens <= 0) return std::nan("");
  const double loss = sum / tokens, n = double(batches.size());
  double ss = 0;
  for (const auto& [s, t] : batches) ss += (s - loss * double(t)) * (s - loss * double(t));
  return std::sqrt(n / (n - 1) * ss) / tokens;
}

TrainResult train(Model& model, BatchSource& train_data, BatchSource* eval_data, const TrainConfig& config,
                  const std::function<void(const StepMetrics&)>& on_step,
                  const std::function<void(const EvalMetrics&)>& on_eval) {
  T5_CHECK(config.steps > 0, "train: steps must be positive, got {}", config.steps);
  T5_CHECK(config.grad_accum >= 1, "train: grad_accum must be at least 1, got {}", config.grad_accum);
  T5_CHECK(config.eval_batches >= 1, "train: eval_batches must be at least 1, got {}", config.eval_batches);
  using Clock = std::chrono::steady_clock;
  const auto run_start = Clock::now();

  std::unique_ptr<Optimizer> optimizer = make_optimizer(config.optimizer, model.table());
  TrainResult result;
  int64_t step = 0;
  if (!config.checkpoint_dir.empty() && config.resume && is_training_checkpoint(config.checkpoint_dir)) {
    step = resume_from(config.checkpoint_dir, model, *optimizer, train_data, config);
    // Otherwise the run would "finish" at the checkpoint's step, more steps than asked, with no loss.
    T5_CHECK_HINT(step <= config.steps, fmt::format("ask for at least {} steps, or use another checkpoint directory", step),
                  "{}/state.json: the checkpoint is at step {}, past the {} steps asked for", config.checkpoint_dir,
                  step, config.steps);
    result.resumed_from = step;
  }
  Collective* const collective = config.collective;
  const int rank = collective ? collective->rank() : 0;
  const int64_t ranks = collective ? collective->size() : 1;
  check_ranks_agree(collective, model, step, config, "at the start");
  // Every evaluation reads the same held-out batches.
  const nlohmann::json eval_start = eval_data ? eval_data->position() : nlohmann::json();
  auto run_eval = [&](int64_t at) {
    eval_data->seek(eval_start);
    EvalMetrics m = evaluate(model, *eval_data, config.eval_batches, collective);
    m.step = at;
    result.evals.push_back(m);
    if (on_eval) on_eval(m);
    return m;
  };
  auto save = [&](int64_t at) {
    if (rank != 0) return;   // the ranks hold the same state; rank 0 writes it
    save_training_checkpoint(config.checkpoint_dir, model.table(), model.params(), optimizer->state(),
                             state_json(config, at, train_data));
  };

  StepProgress progress(config.progress, step, config.progress_total > 0 ? config.progress_total : config.steps);
  if (result.resumed_from > 0 && config.announce_resume) progress.message(fmt::format("resumed from {} at step {}", config.checkpoint_dir, step));
  int64_t tokens_done = 0, last_saved = result.resumed_from, last_eval = -1;
  std::vector<Batch> micro(size_t(config.grad_accum));
  model.zero_grads();  // once: afterwards every update leaves the buffer zeroed
  for (; step < config.steps; ++step) {
    const auto t0 = Clock::now();
    StepMetrics m;
    m.step = step + 1;
    for (auto& b : micro) {
      b = train_data.next();
      m.label_tokens += b.label_tokens();
      m.tokens += b.batch * (b.inputs_length + b.targets_length);
    }
    T5_CHECK(config.batch == 0 || micro[0].batch * config.grad_accum == config.batch,
             "train: batch {} is not grad_accum {} x the data's micro-batch {}", config.batch, config.grad_accum,
             micro[0].batch);
    double sum_ce = 0, sum_z = 0;
    for (size_t i = 0; i < micro.size(); ++i) {
      const Batch mine = rank_rows(std::move(micro[i]), collective);
      const int64_t labels = mine.label_tokens();
      if (labels == 0) continue;
      ForwardOptions opt;
      opt.z_loss = config.z_loss;
      opt.dropout = config.dropout;
      opt.precision = config.precision;
      opt.seed = mix_seed(config.seed, step, int64_t(i) * ranks + rank);   // one process: (step, i)
      // This slice's share of the whole step's label tokens (all ranks, all micro-batches).
      const float share = float(double(labels) / double(m.label_tokens));
      const LossResult r = model.forward_backward(mine, opt, share);
      sum_ce += r.sum_cross_entropy;
      sum_z += r.z_loss * double(labels);
    }
    // Data parallelism: each rank's gradient is its slices' share-weighted sum, so the sum over ranks
    // is the step's gradient. The loss sums and an interrupt on any rank travel in one small sum,
    // so every rank stops after the same step.
    bool interrupted = interrupt_requested();
    if (collective) {
      collective->sum(model.grads(), model.num_params());
      double sums[3] = {sum_ce, sum_z, interrupted ? 1.0 : 0.0};
      collective->sum(sums, 3);
      sum_ce = sums[0];
      sum_z = sums[1];
      interrupted = sums[2] > 0;
    }
    m.loss = m.label_tokens > 0 ? sum_ce / double(m.label_tokens) : 0.0;
    m.z_loss = m.label_tokens > 0 ? sum_z / double(m.label_tokens) : 0.0;

    m.grad_norm = global_norm(model.grads(), model.num_params());
    if (!std::isfinite(m.loss) || !std::isfinite(m.grad_norm)) {
      result.diverged = true;
      result.stop_reason = fmt::format("diverged at step {}: loss {}, gradient norm {}", m.step, m.loss, m.grad_norm);
      progress.message(result.stop_reason);
      break;
    }
    m.lr = learning_rate(config.schedule, step);
    optimizer->step(model.params(), model.grads(), m.lr, StepOptions{.zero_grads = true, .grad_norm = m.grad_norm});
    m.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    tokens_done += m.tokens;
    result.steps.push_back(m);
    if (on_step) on_step(m);
    progress.update(m.step, std::chrono::duration<double>(Clock::now() - run_start).count(), tokens_done,
                    fmt::format("loss {:.4f}  lr {:.3g}", m.loss, m.lr));

    if (eval_data && config.eval_every > 0 && m.step % config.eval_every == 0) {
      const EvalMetrics e = run_eval(m.step);
      last_eval = m.step;
      progress.message(fmt::format("step {}: eval loss {:.4f} over {} tokens", e.step, e.loss, e.tokens));
    }
    if (!config.checkpoint_dir.empty() && config.checkpoint_every > 0 && m.step % config.checkpoint_every == 0) {
      save(m.step);
      last_saved = m.step;
    }
    // Ctrl-C / SIGTERM (core/interrupt.h): keep this step. After the last one the run just finishes.
    if ((collective ? interrupted : interrupt_requested()) && m.step < config.steps) {
      const bool saved = !config.checkpoint_dir.empty();
      if (saved && last_saved != m.step) save(m.step);
      progress.finish();
      throw Interrupted(m.step, saved);
    }
  }
  result.final_step = step;
  check_ranks_agree(collective, model, step, config, "at the end");
  if (!result.diverged) {
    if (eval_data && last_eval != step) run_eval(step);
    if (!config.checkpoint_dir.empty() && last_saved != step) save(step);
  }
  progress.finish();
  result.seconds = std::chrono::duration<double>(Clock::now() - run_start).count();
  return result;
}

}  // namespace t5
