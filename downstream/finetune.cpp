// Fine-tuning and scoring (downstream/finetune.h).
#include "downstream/finetune.h"

#include <algorithm>
#include <cstdio>
#include <chrono>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "core/atomic_file.h"
#include "core/checkpoint.h"
#include "core/data/rng.h"
#include "core/data/tokenizer.h"
#include "core/error.h"
#include "core/interrupt.h"
#include "core/json_file.h"
#include "core/progress.h"
#include "downstream/tasks.h"

namespace t5 {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr int kStateFormat = 1;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The ids of `text` cut to `length` - 1 tokens, then EOS; `cut` is set when tokens were dropped.
std::vector<int32_t> encode_with_eos(const Tokenizer& tokenizer, const std::string& text, int64_t length, bool& cut) {
  std::vector<int32_t> ids = tokenizer.encode(text);
  cut = int64_t(ids.size()) > length - 1;
  if (cut) ids.resize(size_t(length - 1));
  ids.push_back(kEosId);
  return ids;
}

// The text of generated ids: everything before the first EOS (pad ids dropped).
std::string prediction_text(const Tokenizer& tokenizer, const std::vector<int32_t>& ids) {
  std::vector<int32_t> kept;
  for (int32_t id : ids) {
    if (id == kEosId) break;
    if (id != kPadId) kept.push_back(id);
  }
  return tokenizer.decode(kept);
}

bool better(double a, double b, bool higher_is_better) { return higher_is_better ? a > b : a < b; }

json metrics_json(const std::map<std::string, double>& m) {
  json j = json::object();
  for (const auto& [k, v] : m) j[k] = v;
  return j;
}

std::map<std::string, double> metrics_from_json(const json& j, const std::string& where) {
  T5_CHECK(j.is_object(), "{}: metrics: expected an object, got {}", where, j.dump());
  std::map<std::string, double> m;
  for (const auto& [k, v] : j.items()) {
    T5_CHECK(v.is_number(), "{}: metric '{}': expected a number, got {}", where, k, v.dump());
    m[k] = v.get<double>();
  }
  return m;
}

json config_json(const FinetuneConfig& c) {
  return {{"task", c.task},
          {"task_dir", c.task_dir},
          {"tokenizer", c.tokenizer},
          {"steps", c.steps},
          {"batch", c.batch},
          {"inputs_length", c.inputs_length},
          {"targets_length", c.targets_length},
          {"eval_every", c.eval_every},
          {"max_eval_examples", c.max_eval_examples},
          {"optimizer", optimizer_config_to_json(c.optimizer)},
          {"schedule", schedule_config_to_json(c.schedule)},
          {"dropout", c.dropout},
          {"seed", c.seed},
          {"generate",
           {{"max_new_tokens", c.generate.max_new_tokens},
            {"num_beams", c.generate.num_beams},
            {"length_penalty", c.generate.length_penalty},
            {"early_stopping", c.generate.early_stopping}}}};
}

json validation_json(const ValidationPoint& v) {
  return {{"step", v.step}, {"metrics", metrics_json(v.metrics)}, {"seconds", v.seconds}};
}

ValidationPoint validation_from_json(const json& j, const std::string& where) {
  T5_CHECK(j.is_object() && j.contains("step") && j["step"].is_number_integer() && j.contains("metrics"),
           "{}: a validation entry needs 'step' and 'metrics', got {}", where, j.dump());
  ValidationPoint v;
  v.step = j["step"].get<int64_t>();
  v.metrics = metrics_from_json(j["metrics"], where);
  v.seconds = j.value("seconds", 0.0);
  return v;
}

// What a resumed run trusts: the validations done and the configuration they belong to.
struct RunState {
  std::vector<ValidationPoint> validations;
  int64_t best_step = 0;
  std::map<std::string, double> best;
};

void save_state(const std::string& path, const json& config, const RunState& s) {
  json v = json::array();
  for (const auto& p : s.validations) v.push_back(validation_json(p));
  write_text_atomic(path, json{{"format", kStateFormat},
                               {"config", config},
                               {"validations", v},
                               {"best", {{"step", s.best_step}, {"metrics", metrics_json(s.best)}}}}
                              .dump(2) +
                              "\n");
}

RunState load_state(const std::string& path, const json& config) {
  const json j = read_json_file(path);
  T5_CHECK_HINT(j.is_object() && j.value("format", 0) == kStateFormat && j.contains("validations") &&
                    j["validations"].is_array() && j.contains("best") && j.contains("config"),
                "delete the output directory to start again", "{}: not a fine-tuning state file", path);
  T5_CHECK_HINT(j["config"] == config, "use another --out, or the same settings as the run there",
                "{}: the directory holds a fine-tuning run of other settings: {}", path, j["config"].dump());
  RunState s;
  for (const auto& v : j["validations"]) s.validations.push_back(validation_from_json(v, path));
  const json& best = j["best"];
  T5_CHECK(best.is_object() && best.contains("step") && best["step"].is_number_integer(), "{}: key 'best.step' is missing",
           path);
  s.best_step = best["step"].get<int64_t>();
  s.best = metrics_from_json(best.value("metrics", json::object()), path);
  return s;
}

FinetuneResult result_from_json(const json& j, const std::string& where) {
  T5_CHECK_HINT(j.is_object() && j.contains("best_step") && j.contains("test") && j.contains("validations"),
                "delete the output directory to run it again", "{}: not a fine-tuning result", where);
  FinetuneResult r;
  r.task = j.value("task", "");
  r.primary_metric = j.value("primary_metric", "");
  r.higher_is_better = j.value("higher_is_better", true);
  for (const auto& v : j["validations"]) r.validations.push_back(validation_from_json(v, where));
  r.best_step = j["best_step"].get<int64_t>();
  r.best_validation = metrics_from_json(j.value("best_validation", json::object()), where);
  r.test = metrics_from_json(j["test"], where);
  r.train_examples = j.value("train_examples", int64_t(0));
  r.validation_examples = j.value("validation_examples", int64_t(0));
  r.test_examples = j.value("test_examples", int64_t(0));
  r.truncated_inputs = j.value("truncated_inputs", int64_t(0));
  r.truncated_targets = j.value("truncated_targets", int64_t(0));
  r.final_train_loss = j.value("final_train_loss", 0.0);
  r.train_seconds = j.value("train_seconds", 0.0);
  r.eval_seconds = j.value("eval_seconds", 0.0);
  return r;
}

}  // namespace

TokenizedSplit load_task_split(const std::string& task_dir, const std::string& split, const Tokenizer& tokenizer,
                               int64_t inputs_length, int64_t targets_length) {
  T5_CHECK(inputs_length >= 2 && targets_length >= 2, "task lengths must be at least 2, got {}/{}", inputs_length,
           targets_length);
  const std::string path = (fs::path(task_dir) / (split + ".jsonl")).string();
  const std::vector<TaskExample> examples = read_task_split(path);
  TokenizedSplit out;
  out.examples.reserve(examples.size());
  for (const auto& e : examples) {
    TokenizedExample t;
    bool cut_in = false, cut_out = false;
    t.inputs = encode_with_eos(tokenizer, e.inputs, inputs_length, cut_in);
    t.targets = encode_with_eos(tokenizer, e.targets, targets_length, cut_out);
    T5_CHECK(int64_t(tokenizer.vocab_size()) > 0, "{}: empty tokenizer", tokenizer.path());
    out.truncated_inputs += cut_in;
    out.truncated_targets += cut_out;
    out.examples.push_back(std::move(t));
    out.inputs_text.push_back(e.inputs);
    out.targets_text.push_back(e.targets);
  }
  return out;
}

Batch make_task_batch(const std::vector<const TokenizedExample*>& rows, int64_t inputs_length, int64_t targets_length) {
  Batch b;
  b.batch = int64_t(rows.size());
  b.inputs_length = inputs_length;
  b.targets_length = targets_length;
  const size_t ne = size_t(b.batch * inputs_length), nd = size_t(b.batch * targets_length);
  b.input_ids.assign(ne, kPadId);
  b.encoder_segment_ids.assign(ne, 0);
  b.decoder_input_ids.assign(nd, kPadId);
  b.decoder_segment_ids.assign(nd, 0);
  b.labels.assign(nd, kIgnoreLabel);
  for (size_t r = 0; r < rows.size(); ++r) {
    const TokenizedExample& e = *rows[r];
    T5_CHECK(int64_t(e.inputs.size()) <= inputs_length && int64_t(e.targets.size()) <= targets_length,
             "task example of {}/{} tokens does not fit {}/{}", e.inputs.size(), e.targets.size(), inputs_length,
             targets_length);
    const size_t ei = r * size_t(inputs_length), di = r * size_t(targets_length);
    for (size_t j = 0; j < e.inputs.size(); ++j) {
      b.input_ids[ei + j] = e.inputs[j];
      b.encoder_segment_ids[ei + j] = 1;
    }
    for (size_t j = 0; j < e.targets.size(); ++j) {
      b.labels[di + j] = e.targets[j];
      b.decoder_segment_ids[di + j] = 1;
      b.decoder_input_ids[di + j] = j == 0 ? kDecoderStartId : e.targets[j - 1];
    }
  }
  return b;
}

TaskBatchSource::TaskBatchSource(std::shared_ptr<const std::vector<TokenizedExample>> examples, std::string label,
                                 int64_t batch, int64_t inputs_length, int64_t targets_length, uint64_t seed)
    : examples_(std::move(examples)),
      label_(std::move(label)),
      batch_(batch),
      inputs_length_(inputs_length),
      targets_length_(targets_length),
      seed_(seed) {
  T5_CHECK(examples_ && !examples_->empty(), "{}: no examples", label_);
  T5_CHECK(batch_ > 0, "{}: batch must be positive, got {}", label_, batch_);
  shuffle_epoch();
}

void TaskBatchSource::shuffle_epoch() {
  order_.resize(examples_->size());
  for (size_t i = 0; i < order_.size(); ++i) order_[i] = uint32_t(i);
  data::Rng rng(data::derive_seed({seed_, uint64_t(epoch_), 0x7a5cull}));
  rng.shuffle(std::span<uint32_t>(order_));
}

Batch TaskBatchSource::next() {
  std::vector<const TokenizedExample*> rows;
  rows.reserve(size_t(batch_));
  while (int64_t(rows.size()) < batch_) {
    if (index_ == int64_t(order_.size())) {
      ++epoch_;
      index_ = 0;
      shuffle_epoch();
    }
    rows.push_back(&(*examples_)[order_[size_t(index_++)]]);
  }
  return make_task_batch(rows, inputs_length_, targets_length_);
}

json TaskBatchSource::position() const { return {{"epoch", epoch_}, {"index", index_}}; }

void TaskBatchSource::seek(const json& p) {
  T5_CHECK(p.is_object() && p.contains("epoch") && p.contains("index") && p["epoch"].is_number_integer() &&
               p["index"].is_number_integer(),
           "{}: a position is {{\"epoch\", \"index\"}}, got {}", label_, p.dump());
  const int64_t epoch = p["epoch"].get<int64_t>(), index = p["index"].get<int64_t>();
  T5_CHECK(epoch >= 0 && index >= 0 && index <= int64_t(examples_->size()), "{}: position {} is outside {} examples",
           label_, p.dump(), examples_->size());
  epoch_ = epoch;
  index_ = index;
  shuffle_epoch();
}

std::string TaskBatchSource::describe() const {
  return fmt::format("{}: {} examples, batch {} of {}/{} tokens, seed {}", label_, examples_->size(), batch_,
                     inputs_length_, targets_length_, seed_);
}

SplitScore score_split(Generator& generator, const TokenizedSplit& split, const std::string& task,
                       const Tokenizer& tokenizer, const GenerateOptions& options, int64_t max_examples) {
  const size_t n = max_examples > 0 ? std::min(split.examples.size(), size_t(max_examples)) : split.examples.size();
  std::vector<std::vector<int32_t>> inputs;
  inputs.reserve(n);
  for (size_t i = 0; i < n; ++i) inputs.push_back(split.examples[i].inputs);
  const std::vector<std::vector<int32_t>> outputs = generator.generate(inputs, options);
  SplitScore s;
  s.predictions.reserve(n);
  for (const auto& ids : outputs) s.predictions.push_back(prediction_text(tokenizer, ids));
  const std::vector<std::string> targets(split.targets_text.begin(), split.targets_text.begin() + std::ptrdiff_t(n));
  s.metrics = score_task(task, s.predictions, targets);
  return s;
}

json to_json(const FinetuneResult& r) {
  json v = json::array();
  for (const auto& p : r.validations) v.push_back(validation_json(p));
  return {{"task", r.task},
          {"primary_metric", r.primary_metric},
          {"higher_is_better", r.higher_is_better},
          {"best_step", r.best_step},
          {"best_validation", metrics_json(r.best_validation)},
          {"test", metrics_json(r.test)},
          {"validations", v},
          {"train_examples", r.train_examples},
          {"validation_examples", r.validation_examples},
          {"test_examples", r.test_examples},
          {"truncated_inputs", r.truncated_inputs},
          {"truncated_targets", r.truncated_targets},
          {"final_train_loss", r.final_train_loss},
          {"resumed_from", r.resumed_from},
          {"train_seconds", r.train_seconds},
          {"eval_seconds", r.eval_seconds},
          {"seconds", r.seconds}};
}

void check_finetune_dir(const FinetuneConfig& config) {
  const json cfg = config_json(config);
  const fs::path out(config.out_dir);
  const std::string result_path = (out / "finetune.json").string(), state_path = (out / "state.json").string();
  if (fs::exists(result_path)) {
    const json j = read_json_file(result_path);
    T5_CHECK_HINT(j.is_object() && j.contains("config") && j["config"] == cfg,
                  "use another --out, or the same settings as the run there",
                  "{}: the directory holds a finished fine-tuning run of other settings", result_path);
  } else if (fs::exists(state_path)) {
    load_state(state_path, cfg);
  }
}

FinetuneResult finetune(Model& model, const FinetuneConfig& config, const std::function<void(const StepMetrics&)>& on_step) {
  const auto t0 = Clock::now();
  T5_CHECK(config.steps > 0, "finetune: steps must be positive, got {}", config.steps);
  T5_CHECK(config.batch > 0, "finetune: batch must be positive, got {}", config.batch);
  T5_CHECK(config.eval_every >= 0, "finetune: eval_every must not be negative, got {}", config.eval_every);
  T5_CHECK(!config.out_dir.empty(), "finetune: an output directory is needed (checkpoints, best weights, result)");
  const TaskInfo info = task_info(config.task);
  const json cfg = config_json(config);
  const fs::path out(config.out_dir);
  const std::string result_path = (out / "finetune.json").string(), state_path = (out / "state.json").string();
  const std::string checkpoint_dir = (out / "checkpoint").string(), best_dir = (out / "best").string();

  // A finished run is a result: read it back (same settings only).
  check_finetune_dir(config);
  if (fs::exists(result_path)) return result_from_json(read_json_file(result_path), result_path);
  fs::create_directories(out);

  const Tokenizer tokenizer(config.tokenizer);
  T5_CHECK_HINT(tokenizer.vocab_size() <= model.shape().vocab_size, "fine-tune with the pretraining tokenizer",
                "{}: {} ids do not fit the model's {} embedding rows", config.tokenizer, tokenizer.vocab_size(),
                model.shape().vocab_size);
  auto load = [&](const char* split) {
    return load_task_split(config.task_dir, split, tokenizer, config.inputs_length, config.targets_length);
  };
  TokenizedSplit train_split = load("train");
  const TokenizedSplit validation = load("validation"), test = load("test");
  T5_CHECK(!validation.examples.empty() && !test.examples.empty(), "{}: the validation and test splits must not be empty",
           config.task_dir);

  FinetuneResult r;
  r.task = config.task;
  r.primary_metric = info.primary_metric;
  r.higher_is_better = info.higher_is_better;
  r.train_examples = int64_t(train_split.examples.size());
  r.validation_examples = int64_t(validation.examples.size());
  r.test_examples = int64_t(test.examples.size());
  r.truncated_inputs = train_split.truncated_inputs + validation.truncated_inputs + test.truncated_inputs;
  r.truncated_targets = train_split.truncated_targets + validation.truncated_targets + test.truncated_targets;

  // Inputs are cut as T5 cuts them; a cut target can never be predicted exactly, so say so at once.
  const int64_t cut_targets = train_split.truncated_targets + validation.truncated_targets + test.truncated_targets;
  if (cut_targets > 0)
    std::fprintf(stderr, "%s", fmt::format("finetune {}: warning: {} of {} targets are longer than {} tokens (with EOS) "
                                           "and were cut, so they cannot be predicted exactly; raise targets_length\n",
                                           config.task, cut_targets,
                                           r.train_examples + r.validation_examples + r.test_examples,
                                           config.targets_length).c_str());
  auto examples = std::make_shared<const std::vector<TokenizedExample>>(std::move(train_split.examples));
  TaskBatchSource data(examples, fmt::format("task {} train", config.task), config.batch, config.inputs_length,
                       config.targets_length, config.seed);

  GenerateOptions gen = config.generate;
  if (gen.max_new_tokens <= 0) gen.max_new_tokens = config.targets_length;

  TrainConfig tc;
  tc.batch = config.batch;
  tc.inputs_length = config.inputs_length;
  tc.targets_length = config.targets_length;
  tc.optimizer = config.optimizer;
  tc.schedule = config.schedule;
  tc.schedule.total_steps = config.steps;
  tc.eval_every = 0;
  tc.checkpoint_dir = checkpoint_dir;
  tc.resume = true;
  tc.seed = config.seed;
  tc.dropout = config.dropout;
  tc.progress = config.progress;
  tc.progress_total = config.steps;

  RunState state;
  if (fs::exists(state_path)) state = load_state(state_path, cfg);
  else if (is_training_checkpoint(checkpoint_dir)) {
    // A checkpoint without a state file: killed before the first validation finished. The checkpoint
    // is ours only if it was written for this data stream; train() checks that on resume.
  }
  auto validated = [&](int64_t step) {
    return std::any_of(state.validations.begin(), state.validations.end(),
                       [&](const ValidationPoint& v) { return v.step == step; });
  };

  Generator generator(model);   // reads the weights anew at every call
  std::vector<int64_t> boundaries;
  if (config.eval_every > 0)
    for (int64_t s = config.eval_every; s < config.steps; s += config.eval_every) boundaries.push_back(s);
  boundaries.push_back(config.steps);

  StepProgress progress(config.progress, 0, config.steps);   // for the validation lines
  bool first_chunk = true;
  for (const int64_t boundary : boundaries) {
    if (validated(boundary)) continue;
    tc.steps = boundary;
    tc.checkpoint_every = boundary;   // train() saves at its last step; nothing in between is needed
    tc.announce_resume = first_chunk;
    const auto t_train = Clock::now();
    const std::string crash_label = "finetune-" + config.task;
    const TrainResult tr = train(model, data, nullptr, tc, [&](const StepMetrics& m) {
      if (on_step) on_step(m);
      crash_point(crash_label, m.step);
    });
    r.train_seconds += seconds_since(t_train);
    if (first_chunk) r.resumed_from = tr.resumed_from;
    first_chunk = false;
    T5_CHECK(!tr.diverged, "finetune {}: {}", config.task, tr.stop_reason);
    if (!tr.steps.empty()) r.final_train_loss = tr.steps.back().loss;

    const auto t_eval = Clock::now();
    const SplitScore s = score_split(generator, validation, config.task, tokenizer, gen, config.max_eval_examples);
    ValidationPoint v{boundary, s.metrics, seconds_since(t_eval)};
    r.eval_seconds += v.seconds;
    const double score = s.metrics.at(info.primary_metric);
    const bool improved = state.validations.empty() || better(score, state.best.at(info.primary_metric), info.higher_is_better);
    if (improved) save_hf_model(model, best_dir);   // before the state names it
    crash_point(crash_label + "-validation", boundary);
    state.validations.push_back(v);
    if (improved) {
      state.best_step = boundary;
      state.best = s.metrics;
    }
    save_state(state_path, cfg, state);
    progress.message(fmt::format("finetune {} step {}: validation {} {:.4f}{}", config.task, boundary,
                                 info.primary_metric, score, improved ? " (best)" : ""));
    if (interrupt_requested() && boundary < config.steps) throw Interrupted(boundary, true);
  }

  // T5's rule: the test split is scored once, at the best validation checkpoint.
  load_hf_weights(model, hf_weights_path(best_dir));
  const auto t_test = Clock::now();
  const SplitScore s = score_split(generator, test, config.task, tokenizer, gen);
  r.eval_seconds += seconds_since(t_test);
  r.validations = state.validations;
  r.best_step = state.best_step;
  r.best_validation = state.best;
  r.test = s.metrics;
  std::string lines;
  for (size_t i = 0; i < s.predictions.size(); ++i)
    lines += json{{"inputs", test.inputs_text[i]}, {"targets", test.targets_text[i]}, {"prediction", s.predictions[i]}}
                 .dump() +
             "\n";
  write_text_atomic((out / "predictions.jsonl").string(), lines);
  r.seconds = seconds_since(t0);
  json result = to_json(r);
  result["config"] = cfg;
  write_text_atomic(result_path, result.dump(2) + "\n");
  return r;
}

}  // namespace t5
