// Sweep specs (sweeps/*.json): a base shape and a grid over the paper's knobs (or an explicit list of
// shape names), one training budget and one set of run settings shared by every variant. Parsing is
// strict (unknown keys and invalid values are errors naming the file and the key); expansion into
// variants is a pure function. Variant ids read like the shape and parse back to it:
// `small-el16-dl4-s0` (shape name grammar of core/names.h, including its `sh`/`skv` flags for the
// boolean axes "sh" and "skv", then flags `gated`/`relu`, `untied`/`tied` when the grid varies those,
// then `s<seed>`), e.g. `small-dl4-skv-s0`.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/counts.h"
#include "core/shape.h"

namespace t5 {

enum class BudgetKind { steps, tokens, flops };
const char* to_string(BudgetKind kind);

// How long each variant trains. `tokens` and `flops` become a per-variant step count: tokens are
// counted as batch·(inputs_length + targets_length) per step; FLOPs with count_flops (SPEC §3), so a
// FLOPs budget gives deeper/wider variants fewer steps (compute-matched comparison).
struct Budget {
  BudgetKind kind = BudgetKind::steps;
  double value = 0;
};

// The data every variant reads. source "c4": a C4-layout corpus directory (or file) with span
// corruption; "synthetic": the trainer's seeded copy task (tests, and before a corpus exists).
struct DataSpec {
  std::string source = "c4";
  std::string corpus;              // directory, resolved against the current directory
  std::string tokenizer;           // SentencePiece model
  std::string train_split = "train";
  std::string eval_split = "validation";
  double noise_density = 0.15;
  double mean_noise_span_length = 3.0;
  bool packed = true;
};

// Run settings shared by all variants (never part of a shape).
struct RunSettings {
  Budget budget;
  int64_t batch = 0;
  int64_t inputs_length = 0;
  int64_t targets_length = 0;
  std::string optimizer = "adafactor";    // "adafactor" | "adamw"
  std::string schedule = "rsqrt";         // "rsqrt" | "constant" | "cosine" (core/schedule.h)
  double lr = 0.01;                       // peak (or constant) learning rate
  int64_t warmup_steps = 0;              // 0 = T5's share (10,000 of 524,288) of each variant's steps
  double weight_decay = 0.0;              // AdamW only
  double max_grad_norm = 0.0;             // 0 = no global-norm clipping
  double z_loss = 0.0;
  int64_t eval_every = 0;                 // 0 = evaluate at the end only
  int64_t eval_batches = 4;               // held-out batches per evaluation
  int64_t checkpoint_every = 0;           // 0 = a checkpoint at a quarter of the steps (resume)
  int64_t threads = 0;                    // 0 = all cores
  std::string precision = "fp32";         // "fp32" | "bf16" (core/model.h Precision)
  DataSpec data;
};

// The downstream stage (issue 14): after a variant's pretraining, each task is fine-tuned from its
// final weights (downstream/finetune.h) once per fine-tuning seed and scored on its test split at the
// best validation step. `from_scratch` also fine-tunes every variant's shape from random init (the
// same init seed as its pretraining), the baseline that pretraining must beat.
struct DownstreamSpec {
  std::vector<std::string> tasks;        // empty = no downstream stage
  std::string tasks_dir = "data/tasks";  // DIR/<task>/{train,validation,test}.jsonl
  std::string tokenizer;                 // default: the pretraining data's tokenizer
  int64_t steps = 200;
  int64_t batch = 16;
  int64_t inputs_length = 64;
  int64_t targets_length = 16;
  std::string optimizer = "adafactor";
  std::string schedule = "constant";
  double lr = 1e-3;                      // T5 fine-tunes with Adafactor at a constant 1e-3
  double dropout = 0.1;
  int64_t eval_every = 50;
  int64_t max_eval_examples = 0;         // validation examples decoded (0 = all)
  int64_t beam = 1;
  std::vector<uint64_t> seeds = {0};     // fine-tuning seeds (data order, dropout) per variant
  bool from_scratch = false;
  bool enabled() const { return !tasks.empty(); }
};
nlohmann::json to_json(const DownstreamSpec& d);

// One grid axis: a knob of core/names.h (el, dl, nl, dm, ff, kv, nh) with integer values, or one of its
// flags sh, skv (true | false: core/shape.h shared_heads, shared_kv), or feed_forward_proj ("relu" |
// "gated-gelu"), or tie_word_embeddings (true | false).
struct GridAxis {
  std::string key;
  std::vector<nlohmann::json> values;
};

struct SweepSpec {
  std::string path;                        // the file it came from (error messages)
  std::string name;                        // output directory results/<name>
  std::string description;
  std::string question;                    // what the sweep answers (experiments/*.md, report)
  std::string base;                        // shape name the grid varies
  std::vector<GridAxis> grid;              // in knob order el, dl, nl, dm, ff, kv, nh, sh, skv, ffn, tying
  std::vector<std::string> shapes;         // explicit list instead of a grid
  std::vector<uint64_t> seeds = {0};
  int64_t vocab_size = 0;                  // > 0: every variant's embedding rows (a tokenizer sized for
                                           // tiny models, e.g. 8,192); 0 = each shape's own (32,128)
  RunSettings settings;
  DownstreamSpec downstream;
  nlohmann::json source;                   // the spec as written (copied beside the records)
};

// Throws t5::Error "<where>: key '<path>': ..." for any unknown key or invalid value.
SweepSpec parse_sweep_spec(const nlohmann::json& j, const std::string& where);
SweepSpec load_sweep_spec(const std::string& path);

struct Variant {
  std::string id;          // "small-el16-dl4-s0": names the variant, its files and its plot label
  std::string shape_id;    // the id without the seed ("small-el16-dl4"): groups seeds
  Shape shape;             // shape.name == shape_id
  uint64_t seed = 0;
  int64_t steps = 0;       // the budget resolved for this shape
  nlohmann::json coordinates = nlohmann::json::object();   // grid axis -> value
};

struct SkippedVariant {
  std::string id;
  std::string reason;
};

struct Expansion {
  std::vector<Variant> variants;      // grid order (first axis slowest), seeds innermost
  std::vector<SkippedVariant> skipped;
};

struct ExpandOptions {
  int64_t memory_limit_bytes = 0;     // > 0: shapes whose training estimate exceeds it are skipped
};

// Pure: the same spec always gives the same variants in the same order.
Expansion expand(const SweepSpec& spec, const ExpandOptions& options = {});

// Lengths of one training step of the spec.
Lengths step_lengths(const RunSettings& settings);
// The number of whole steps `budget` buys for `shape`; 0 when it does not buy one (expand() skips
// such a variant: trained for one step it would spend more than the budget the sweep compares at).
int64_t resolve_steps(const Budget& budget, const Shape& shape, const Lengths& lengths);

// Parses a variant id back to its shape and seed ("small-el16-dl4-gated-s3"). Throws t5::Error.
struct ParsedId {
  Shape shape;
  std::optional<uint64_t> seed;
};
ParsedId parse_variant_id(const std::string& id);

// The knob part of an id for a width value: the paper writes multiples of 1024 in thousands
// (ff2048 -> "ff2000"), so the name parses back to the same value.
std::string knob_token(const std::string& knob, int64_t value);

nlohmann::json to_json(const RunSettings& s);

}  // namespace t5
