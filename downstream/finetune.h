// Fine-tuning and scoring on a text-to-text task (issue 14), as T5 does it (Raffel et al. 2020 §3.1.4;
// Tay et al. 2022 §3): teacher-forced training of a pretrained (or freshly initialised) model on the
// task's train split, validation by *decoding* the validation split every `eval_every` steps and
// scoring the text with the task's metrics, T5's best-checkpoint rule (the test split is scored once,
// with the weights of the best validation score), and a run that resumes bit-identically after a
// kill: the training itself is core/trainer.h train() with its checkpoints; the validation history
// and the best weights are kept beside them, each written atomically.
//
// Files under the output directory:
//   checkpoint/          training checkpoint (core/checkpoint.h), replaced whole at every validation
//   best/                model.safetensors + config.json of the best validation step so far
//   state.json           {"validations": [...], "best": {...}}: what a resumed run trusts
//   finetune.json        the result (written last, once: its presence means the run is complete)
//   predictions.jsonl    the test split's inputs, targets and predictions at the best step
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/batch.h"
#include "core/model.h"
#include "core/trainer.h"
#include "downstream/generate.h"

namespace t5 {

class Tokenizer;

// One example as the model sees it: token ids, each sequence ending with EOS.
struct TokenizedExample {
  std::vector<int32_t> inputs;
  std::vector<int32_t> targets;
};

struct TokenizedSplit {
  std::vector<TokenizedExample> examples;
  std::vector<std::string> targets_text;   // the targets as written (what predictions are scored against)
  std::vector<std::string> inputs_text;
  int64_t truncated_inputs = 0;            // examples whose inputs were cut to fit inputs_length
  int64_t truncated_targets = 0;
};

// Reads DIR/<split>.jsonl of a task and tokenizes it: inputs cut to `inputs_length` - 1 tokens and
// targets to `targets_length` - 1, then EOS appended to each (T5's trim_and_pad of the tokens).
TokenizedSplit load_task_split(const std::string& task_dir, const std::string& split, const Tokenizer& tokenizer,
                               int64_t inputs_length, int64_t targets_length);

// Fixed-geometry batches [batch, inputs_length] / [batch, targets_length] of a task's examples,
// padded (segment 0 = padding) with decoder inputs shifted right (start id 0). Every epoch visits
// every example once in an order shuffled from (seed, epoch); position() = {"epoch", "index"}.
class TaskBatchSource : public BatchSource {
 public:
  TaskBatchSource(std::shared_ptr<const std::vector<TokenizedExample>> examples, std::string label, int64_t batch,
                  int64_t inputs_length, int64_t targets_length, uint64_t seed);
  Batch next() override;
  nlohmann::json position() const override;
  void seek(const nlohmann::json& position) override;
  std::string describe() const override;

 private:
  void shuffle_epoch();
  std::shared_ptr<const std::vector<TokenizedExample>> examples_;
  std::string label_;
  int64_t batch_, inputs_length_, targets_length_;
  uint64_t seed_;
  int64_t epoch_ = 0, index_ = 0;
  std::vector<uint32_t> order_;
};

// Builds one batch of `examples` (ids already fit the lengths) in the layout above.
Batch make_task_batch(const std::vector<const TokenizedExample*>& rows, int64_t inputs_length, int64_t targets_length);

struct FinetuneConfig {
  std::string task;                 // task name (its metrics, downstream/tasks.h)
  std::string task_dir;             // DIR/<task>: train/validation/test.jsonl
  std::string tokenizer;            // SentencePiece model of the pretrained model
  std::string out_dir;              // the run's files (see above)
  int64_t steps = 0;
  int64_t batch = 0;
  int64_t inputs_length = 0;
  int64_t targets_length = 0;
  int64_t eval_every = 0;           // validate every k steps (and at the end); 0 = at the end only
  int64_t max_eval_examples = 0;    // validation examples decoded (0 = all); the test split is always whole
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  double dropout = 0.1;             // T5 fine-tunes with dropout 0.1
  uint64_t seed = 0;                // data order and dropout
  GenerateOptions generate;         // max_new_tokens defaults to targets_length when 0
  bool progress = false;
};

struct ValidationPoint {
  int64_t step = 0;
  std::map<std::string, double> metrics;
  double seconds = 0;               // decoding and scoring
};

struct FinetuneResult {
  std::string task;
  std::string primary_metric;
  bool higher_is_better = true;
  std::vector<ValidationPoint> validations;  // every validation of the whole run, resumed ones included
  int64_t best_step = 0;
  std::map<std::string, double> best_validation;
  std::map<std::string, double> test;        // scored at best_step
  int64_t train_examples = 0, validation_examples = 0, test_examples = 0;
  int64_t truncated_inputs = 0, truncated_targets = 0;   // over all three splits
  double final_train_loss = 0;
  int64_t resumed_from = 0;
  double seconds = 0;                         // this process's wall time
  double train_seconds = 0, eval_seconds = 0;
};

nlohmann::json to_json(const FinetuneResult& r);

// Fine-tunes `model` (already holding its starting weights) as configured. When out_dir holds an
// unfinished run of the same configuration it continues it; a finished one (finetune.json) is read
// back instead of run again. Interrupts (core/interrupt.h) end the run after the step in progress
// with its checkpoint saved and throw t5::Interrupted.
FinetuneResult finetune(Model& model, const FinetuneConfig& config,
                        const std::function<void(const StepMetrics&)>& on_step = {});

// Throws t5::Error when config.out_dir already holds a fine-tuning run (finished or not) of other
// settings: a directory never mixes two runs. finetune() checks it too; commands call it before they
// start, so the refusal is all they print.
void check_finetune_dir(const FinetuneConfig& config);

// Decodes `split`'s inputs with `model` and scores the text against its targets.
struct SplitScore {
  std::map<std::string, double> metrics;
  std::vector<std::string> predictions;
};
// `generator` decodes with `model`'s current weights (it keeps its buffers between validations).
SplitScore score_split(Generator& generator, const TokenizedSplit& split, const std::string& task,
                       const Tokenizer& tokenizer, const GenerateOptions& options, int64_t max_examples = 0);

}  // namespace t5
