// Throughput of the data pipeline (read + tokenize + span-corrupt + pack) beside the core's training
// throughput on the same machine, in one process: issue 4 asks the pipeline to produce tokens at
// least 20x faster than t5-efficient-tiny trains, so data is never the bottleneck.
// Tokens are counted the way core/step_bench.h counts them: batch * (inputs_length + targets_length)
// per batch, i.e. the tokens one training step consumes (padding included, as the trainer pays for it).
#pragma once

#include <cstdint>
#include <optional>

#include <nlohmann/json_fwd.hpp>

#include "core/data/c4_source.h"
#include "core/step_bench.h"

namespace t5 {

constexpr double kRequiredPipelineRatio = 20.0;   // issue 4: pipeline tokens/s >= 20x training tokens/s

struct PipelineBenchResult {
  int64_t batches = 0;
  double seconds = 0;              // wall time of the `batches` next() calls (reading included)
  int64_t batch_tokens = 0;        // batches * batch * (inputs_length + targets_length)
  int64_t nonpad_tokens = 0;       // input and label positions holding an example token
  int64_t raw_tokens = 0;          // SentencePiece tokens of the documents read (DataStats)
  int64_t documents = 0;
  int64_t examples = 0;
  double tokens_per_second = 0;    // batch_tokens / seconds
  double raw_tokens_per_second = 0;
  nlohmann::json source;           // C4Source::record()
};

// Times `batches` batches of `source` (a fresh source, so its stats count this run only).
PipelineBenchResult run_pipeline_bench(C4Source& source, int64_t batches);

struct DataVsTrainingResult {
  PipelineBenchResult pipeline;
  std::optional<StepBenchResult> training;   // absent when no model was timed
  double ratio = 0;                           // pipeline.tokens_per_second / training->tokens_per_second
};

// The pipeline over `source`, then training steps of `step.shape` at the source's lengths and batch
// (step.lengths is overwritten so both figures count the same tokens).
DataVsTrainingResult run_data_vs_training_bench(C4Source& source, int64_t batches,
                                                std::optional<StepBenchConfig> step);

nlohmann::json to_json(const PipelineBenchResult& r);
nlohmann::json to_json(const DataVsTrainingResult& r);

}  // namespace t5
