// The real VariantRunner: one variant = init, data streams, core/trainer.h train() with checkpoints
// and a steps log, the final held-out evaluation (see trainer_runner.h).
#include "sweeps/trainer_runner.h"

#include <csignal>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/atomic_file.h"
#include "core/checkpoint.h"
#include "core/data/c4_source.h"
#include "core/error.h"
#include "core/interrupt.h"
#include "core/model.h"
#include "core/synthetic_data.h"
#include "core/trainer.h"
#include "results/records.h"
#include "sweeps/downstream_stage.h"

namespace t5 {

using nlohmann::json;

namespace {

namespace fs = std::filesystem;

// The synthetic copy task over this many ids (smaller than any vocabulary), sequences as long as the
// shorter length allows (one position for EOS).
constexpr int64_t kSyntheticVocab = 64;
// A held-out synthetic stream: same task, another seed.
constexpr uint64_t kSyntheticEvalSeedMix = 0x5eedf00dull;

struct Streams {
  std::unique_ptr<BatchSource> train, eval;
  json description = json::object();
};

Streams make_streams(const SweepSpec& spec, uint64_t seed) {
  const RunSettings& s = spec.settings;
  Streams d;
  if (s.data.source == "synthetic") {
    SyntheticConfig c;
    c.vocab_size = kSyntheticVocab;
    c.length = std::min(s.inputs_length, s.targets_length) - 1;
    c.inputs_length = s.inputs_length;
    c.targets_length = s.targets_length;
    d.train = make_synthetic_source(c, s.batch, seed);
    d.eval = make_synthetic_source(c, s.batch, seed ^ kSyntheticEvalSeedMix);
    d.description = {{"source", "synthetic"}, {"task", "copy"}, {"vocab_size", c.vocab_size}, {"length", c.length},
                     {"train", d.train->describe()}, {"eval", d.eval->describe()}};
    return d;
  }
  const SpanCorruptionConfig sc = span_corruption_config(spec);
  auto train = std::make_unique<C4Source>(s.data.corpus, s.data.train_split, s.data.tokenizer, sc, s.batch, seed);
  auto eval = std::make_unique<C4Source>(s.data.corpus, s.data.eval_split, s.data.tokenizer, sc, s.batch, seed);
  d.description = {{"source", "c4"}, {"train", train->record()}, {"eval", eval->record()},
                   {"eval_batches", s.eval_batches}};
  d.train = std::move(train);
  d.eval = std::move(eval);
  return d;
}

// (step, loss) of every step line of a steps log, in order.
std::vector<std::pair<int64_t, double>> read_train_curve(const std::string& path) {
  std::vector<std::pair<int64_t, double>> curve;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || j.value("type", "") != "step") continue;
    const json& loss = j["loss"];
    curve.emplace_back(j["step"].get<int64_t>(), loss.is_number() ? loss.get<double>() : std::nan(""));
  }
  return curve;
}


}  // namespace

int64_t checkpoint_step(const std::string& dir) {
  if (!is_training_checkpoint(dir)) return 0;
  const json state = json::parse(std::ifstream(dir + "/state.json"), nullptr, false);
  return state.is_object() && state.contains("step") && state["step"].is_number_integer() ? state["step"].get<int64_t>()
                                                                                          : 0;
}

TrainConfig train_config(const SweepSpec& spec, const Variant& v, const std::string& checkpoint_dir) {
  const RunSettings& s = spec.settings;
  TrainConfig c;
  c.steps = v.steps;
  c.batch = s.batch;
  c.inputs_length = s.inputs_length;
  c.targets_length = s.targets_length;
  c.optimizer.name = s.optimizer;
  c.optimizer.weight_decay = s.weight_decay;
  c.optimizer.clip_norm = s.max_grad_norm;
  c.schedule.kind = parse_schedule_kind(s.schedule);
  c.schedule.lr = s.lr;
  c.schedule.warmup_steps = s.warmup_steps > 0 ? s.warmup_steps : scaled_warmup(v.steps);
  c.schedule.total_steps = v.steps;
  c.eval_every = s.eval_every;
  c.eval_batches = s.eval_batches;
  // Default: a checkpoint every quarter of the run, so an interrupted variant loses at most that.
  c.checkpoint_every = s.checkpoint_every > 0 ? s.checkpoint_every : std::max<int64_t>(1, v.steps / 4);
  c.checkpoint_dir = checkpoint_dir;
  c.resume = true;
  c.seed = v.seed;
  c.z_loss = s.z_loss;
  c.precision = parse_precision(s.precision);
  return c;
}

SpanCorruptionConfig span_corruption_config(const SweepSpec& spec) {
  SpanCorruptionConfig sc;
  sc.inputs_length = spec.settings.inputs_length;
  sc.noise_density = spec.settings.data.noise_density;
  sc.mean_noise_span_length = spec.settings.data.mean_noise_span_length;
  sc.packed = spec.settings.data.packed;
  return sc;
}

void check_training_lengths(const SweepSpec& spec) {
  const RunSettings& s = spec.settings;
  parse_schedule_kind(s.schedule);
  if (s.data.source == "synthetic") {
    T5_CHECK(std::min(s.inputs_length, s.targets_length) >= 2,
             "{}: keys 'inputs_length' and 'targets_length' must be at least 2 for synthetic data", spec.path);
    return;
  }
  SpanLengths lengths;
  try {
    lengths = span_lengths(span_corruption_config(spec));
  } catch (const Error& e) {
    throw Error(fmt::format("{}: keys 'inputs_length'/'data': {}", spec.path, e.message()), e.hint());
  }
  T5_CHECK_HINT(lengths.targets_length == s.targets_length,
                fmt::format("set \"targets_length\": {}", lengths.targets_length),
                "{}: key 'targets_length': span corruption of {} input tokens (noise density {}, mean span {}) makes "
                "targets of {} tokens, not {}",
                spec.path, s.inputs_length, s.data.noise_density, s.data.mean_noise_span_length,
                lengths.targets_length, s.targets_length);
}

// The downstream block's files, before any variant runs: the tokenizer and every task's three splits.
void check_downstream_data(const SweepSpec& spec) {
  const DownstreamSpec& d = spec.downstream;
  if (!d.enabled()) return;
  T5_CHECK_HINT(fs::is_regular_file(d.tokenizer), "give the tokenizer the variants are pretrained with",
                "{}: key 'downstream.tokenizer': {} is not a file", spec.path, d.tokenizer);
  for (const auto& task : d.tasks)
    for (const char* split : {"train", "validation", "test"}) {
      const fs::path file = fs::path(d.tasks_dir) / task / (std::string(split) + ".jsonl");
      T5_CHECK_HINT(fs::is_regular_file(file),
                    fmt::format("prepare it: t5scale data prepare --tasks {} --out {}", task, d.tasks_dir),
                    "{}: key 'downstream.tasks': {} does not exist", spec.path, file.string());
    }
}

void check_training_data(const SweepSpec& spec, const Expansion& expansion) {
  check_training_lengths(spec);
  check_downstream_data(spec);
  const RunSettings& s = spec.settings;
  if (s.data.source == "synthetic") return;
  T5_CHECK_HINT(fs::exists(s.data.corpus), "run 't5scale data prepare --offline --out DIR' for the shipped corpus",
                "{}: key 'data.corpus': {} does not exist", spec.path, s.data.corpus);
  T5_CHECK_HINT(fs::is_regular_file(s.data.tokenizer), "give the corpus's spiece.model",
                "{}: key 'data.tokenizer': {} is not a file", spec.path, s.data.tokenizer);
  // Opening the train split reads the tokenizer and lists the files: errors surface now, not per variant.
  C4Source probe(s.data.corpus, s.data.train_split, s.data.tokenizer, span_corruption_config(spec), s.batch, 0);
  C4Source eval_probe(s.data.corpus, s.data.eval_split, s.data.tokenizer, span_corruption_config(spec), s.batch, 0);
  for (const auto& v : expansion.variants)
    T5_CHECK_HINT(probe.tokenizer().vocab_size() <= v.shape.vocab_size, "use a smaller tokenizer",
                  "{}: key 'data.tokenizer': {} ids do not fit the {} embedding rows of {}", spec.path,
                  probe.tokenizer().vocab_size(), v.shape.vocab_size, v.id);
}

VariantRunner make_training_runner() {
  return [](const SweepSpec& spec, const Variant& v, const VariantContext& ctx) {
    crash_point(v.id, 0);
    VariantOutcome out;
    out.eval_loss = std::nan("");
    Model model(v.shape);
    init_params(model, v.seed);
    Streams data = make_streams(spec, v.seed);
    out.data = data.description;
    const TrainConfig config = train_config(spec, v, ctx.checkpoint_dir);
    // The log keeps what the checkpoint covers; the steps after it are replayed (identically).
    trim_steps_log(ctx.steps_log, checkpoint_step(ctx.checkpoint_dir));
    LineLog log(ctx.steps_log, /*truncate=*/false);
    const TrainResult r = train(
        model, *data.train, data.eval.get(), config, [&](const StepMetrics& m) {
          log.append(step_log_line(m));
          crash_point(v.id, m.step);
        },
        [&](const EvalMetrics& e) { log.append(eval_log_line(e)); });
    out.diverged = r.diverged;
    if (r.diverged) out.error = r.stop_reason;
    out.steps_done = r.final_step;
    out.resumed_from = r.resumed_from;
    for (const auto& m : r.steps) out.step_seconds.push_back(m.seconds);
    out.train_curve = read_train_curve(ctx.steps_log);
    if (!r.evals.empty() && !r.diverged) {
      out.eval_loss = r.evals.back().loss;
      out.eval_tokens = r.evals.back().tokens;
      out.eval_batches = r.evals.back().batches;
      out.eval_loss_standard_error = r.evals.back().loss_standard_error;
      out.eval_batch_losses = r.evals.back().batch_losses;
      out.eval_batch_tokens = r.evals.back().batch_tokens;
    }
    if (spec.downstream.enabled() && !r.diverged) out.downstream = run_downstream_stage(spec, v, model, ctx.downstream_dir);
    return out;
  };
}

json sweep_unigram_baseline(const SweepSpec& spec, const std::string& out_dir) {
  const std::string path = out_dir + "/baseline.json";
  if (fs::exists(path)) {
    const json j = json::parse(std::ifstream(path), nullptr, false);
    if (!j.is_discarded() && j.contains("unigram_cross_entropy")) return j;
  }
  const DataSpec& d = spec.settings.data;
  T5_CHECK(d.source == "c4", "{}: the unigram baseline needs a C4 corpus", spec.path);
  const uint64_t seed = spec.seeds.empty() ? 0 : spec.seeds.front();
  const double h = unigram_baseline_nats(d.corpus, d.eval_split, d.tokenizer, span_corruption_config(spec), seed);
  const json j = {{"unigram_cross_entropy", h},
                  {"split", d.eval_split},
                  {"corpus", d.corpus},
                  {"tokenizer", d.tokenizer},
                  {"method", "entropy (nats) of the label-token frequencies of the whole held-out split under the "
                             "sweep's span corruption: the loss of the best context-free predictor of those tokens"}};
  write_text_atomic(path, j.dump(2) + "\n");
  return j;
}

}  // namespace t5
