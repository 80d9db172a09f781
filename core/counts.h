// Exact analytic counts for a shape: parameters (SPEC.md §2), matmul FLOPs (SPEC.md §3) and memory.
// These formulas are written independently of the parameter table so each checks the other.
#pragma once

#include <cstdint>

#include <nlohmann/json_fwd.hpp>

#include "core/shape.h"

namespace t5 {

struct ParamBreakdown {
  int64_t embedding = 0;       // shared input embedding V*dm
  int64_t encoder = 0;         // encoder blocks incl. their norms (not the bias table, not final norm)
  int64_t decoder = 0;         // decoder blocks incl. their norms
  int64_t lm_head = 0;         // untied output projection, else 0
  int64_t norms = 0;           // every RMSNorm weight (block norms + final norms); overlaps encoder/decoder
  int64_t relative_bias = 0;   // two [buckets, nh] tables
  int64_t final_norms = 0;     // the two stack-final norms
  int64_t total = 0;           // embedding + encoder + decoder + lm_head + relative_bias + final_norms
  // Kaplan et al.'s N: total without the vocabulary matrices (embedding, lm_head) and the position
  // (relative bias) tables.
  int64_t non_embedding = 0;
};

// SPEC.md §2, worked from the formula (not from the parameter table).
ParamBreakdown count_params(const Shape& s);

struct Lengths {
  int64_t inputs = 512;    // encoder tokens per example (Le)
  int64_t targets = 114;   // decoder tokens per example (Ld)
  int64_t batch = 128;     // examples per training step
};

struct FlopBreakdown {
  // Forward, per example, in FLOPs (1 multiply-add = 2 FLOPs).
  double encoder_attention = 0;        // all encoder layers: projections + scores + weighted sum
  double encoder_feed_forward = 0;
  double decoder_self_attention = 0;
  double decoder_cross_attention = 0;
  double decoder_feed_forward = 0;
  double lm_head = 0;
  double forward_per_example = 0;      // sum of the above
  double train_per_step = 0;           // 3 * forward * batch
  double kaplan_6n_per_step = 0;       // 6 * N * batch * (Le + Ld), N = non-embedding parameters
};

// SPEC.md §3. Exact integer arithmetic is kept in doubles (exact below 2^53 per term).
FlopBreakdown count_flops(const Shape& s, const Lengths& len);

enum class OptimizerKind { adafactor, adamw };   // (t5::Optimizer is the class of core/optimizer.h)

struct MemoryEstimate {
  int64_t weights_fp32_bytes = 0;
  int64_t weights_bf16_bytes = 0;
  int64_t gradients_bytes = 0;          // fp32
  int64_t optimizer_bytes = 0;          // Adafactor factored moments or AdamW m and v
  int64_t activations_bytes = 0;        // what backward keeps for one batch (see counts.cpp)
  int64_t training_total_bytes = 0;     // sum of the four training terms
};

MemoryEstimate estimate_memory(const Shape& s, const Lengths& len, OptimizerKind opt = OptimizerKind::adafactor);

// Adafactor's second-moment floats for one tensor (factored when its second-largest dim >= threshold).
int64_t adafactor_state_floats(int64_t rows, int64_t cols, int64_t factor_threshold = 128);

nlohmann::json to_json(const ParamBreakdown& p);
nlohmann::json to_json(const FlopBreakdown& f);
nlohmann::json to_json(const MemoryEstimate& m);

}  // namespace t5
