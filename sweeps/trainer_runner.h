// The real VariantRunner (sweeps/runner.h): trains one variant with core/trainer.h on the spec's data
// (C4 span corruption over the spec's corpus, or the synthetic copy task), evaluates on the held-out
// split, checkpoints into the variant's checkpoint directory (an interrupted variant resumes there
// bit-identically) and logs every step and evaluation to its steps log. Every variant of a sweep
// reads the same data: the stream's seed and the init seed are the variant's seed, nothing else.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/data/span_corruption.h"
#include "core/trainer.h"
#include "sweeps/runner.h"

namespace t5 {

// The span-corruption settings of a spec's data block (C4 source).
SpanCorruptionConfig span_corruption_config(const SweepSpec& spec);

// The trainer settings of one variant: the spec's budget, optimizer, schedule, eval, precision and
// the variant's steps and seed; checkpoints into `checkpoint_dir`, resuming from it.
TrainConfig train_config(const SweepSpec& spec, const Variant& v, const std::string& checkpoint_dir);

// The step of the checkpoint a resumed run will start from (0 = none, or a state.json too damaged to
// say: train() then names what is wrong with it).
int64_t checkpoint_step(const std::string& checkpoint_dir);

// The checks of check_training_data that read no file (what `sweep --dry-run` can check without the
// corpus): the schedule, synthetic lengths, and that targets_length is what span corruption makes
// of inputs_length. Throws t5::Error naming the spec key.
void check_training_lengths(const SweepSpec& spec);

// Checks, before any variant runs, that the spec's data can be read and fits its lengths: corpus
// and tokenizer exist, the tokenizer's ids fit every variant's vocabulary, and targets_length is
// what span corruption makes of inputs_length. Throws t5::Error naming the spec key.
void check_training_data(const SweepSpec& spec, const Expansion& expansion);

// The runner. Steps log lines: {"type": "step", step, loss, z_loss, lr, grad_norm, seconds, tokens,
// label_tokens} and {"type": "eval", step, loss, negative_log_perplexity, tokens}.
VariantRunner make_training_runner();

// The corpus's unigram baseline for the report (results/<sweep>/baseline.json): the entropy of the
// label-token frequencies of the held-out split under the spec's span corruption, i.e. the loss of
// the best context-free predictor of those tokens. Computed once and stored; returns the JSON.
nlohmann::json sweep_unigram_baseline(const SweepSpec& spec, const std::string& out_dir);

}  // namespace t5
