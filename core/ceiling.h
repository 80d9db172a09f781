// The GEMM ceiling: the FLOP/s this process's GEMM reaches on the largest products of a T5 shape,
// measured in a fraction of a second. Model FLOP utilisation (MFU) in `t5scale bench` and in sweeps
// is achieved FLOP/s (SPEC.md §3 exact FLOPs / step time) divided by this ceiling, measured in the
// same process right before or after the timed steps, because the machine is shared and its speed
// drifts (MACHINE.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/counts.h"
#include "core/gemm.h"
#include "core/shape.h"

namespace t5 {

struct GemmProbe {
  std::string name;            // "ff_in", "ff_out", "attention_projection"
  int64_t M = 0, N = 0, K = 0; // activations [M, K] times a weight stored [N, K] (transposed), as in the model
  double median_seconds = 0;    // of one product, over the timed repetitions
  double best_seconds = 0;      // the fastest repetition (what an idle machine would give)
  double flops_per_second = 0; // 2·M·N·K / median_seconds
  int64_t repetitions = 0;
};

struct GemmCeiling {
  GemmPrecision precision = GemmPrecision::fp32;
  PrecisionPath path = PrecisionPath::native;  // bf16 products native or emulated (core/gemm.h) when measured
  std::string backend;          // "onednn", "openblas" (fp32) or "onednn" (bf16, always)
  int threads = 0;
  double flops_per_second = 0;  // the best probe's median: the ceiling
  double seconds = 0;           // wall time spent measuring
  std::vector<GemmProbe> probes;
};

// Probes: the feed-forward input and output products and the attention projection of `s`, with
// M = encoder tokens of one step (batch * inputs length) capped at 4096 rows to bound the time.
// fp32 uses the current gemm() backend; bf16 uses gemm_bf16 on operands converted beforehand, on the
// path bf16 products take in this process (an emulated ceiling is an f32 rate: MFU against it is honest).
// `budget_seconds` is split over the probes (each runs at least 3 timed repetitions after a warm-up).
GemmCeiling measure_gemm_ceiling(const Shape& s, const Lengths& len, GemmPrecision precision,
                                 double budget_seconds = 0.3);

// {"precision": "bf16", "precision_path": "native" | "emulated", "backend", "threads", "flops_per_second", ...}
nlohmann::json to_json(const GemmCeiling& c);

// "bf16 (emulated)", "bf16" or "fp32": what the ceiling was measured in.
std::string precision_label(const GemmCeiling& c);

}  // namespace t5
