// Data pipeline vs training throughput (see pipeline_bench.h).
#include "core/data/pipeline_bench.h"

#include <chrono>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace t5 {

PipelineBenchResult run_pipeline_bench(C4Source& source, int64_t batches) {
  T5_CHECK(batches > 0, "pipeline bench: batches must be positive, got {}", batches);
  const DataStats before = source.stats();
  PipelineBenchResult r;
  r.batches = batches;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < batches; ++i) {
    const Batch b = source.next();
    r.batch_tokens += b.batch * (b.inputs_length + b.targets_length);
    for (int32_t s : b.encoder_segment_ids) r.nonpad_tokens += s != 0;
    for (int32_t s : b.decoder_segment_ids) r.nonpad_tokens += s != 0;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const DataStats after = source.stats();
  r.raw_tokens = after.raw_tokens - before.raw_tokens;
  r.documents = after.documents - before.documents;
  r.examples = after.examples - before.examples;
  r.tokens_per_second = double(r.batch_tokens) / r.seconds;
  r.raw_tokens_per_second = double(r.raw_tokens) / r.seconds;
  r.source = source.record();
  return r;
}

DataVsTrainingResult run_data_vs_training_bench(C4Source& source, int64_t batches,
                                                std::optional<StepBenchConfig> step) {
  DataVsTrainingResult r;
  r.pipeline = run_pipeline_bench(source, batches);
  if (!step) return r;
  step->lengths = Lengths{.inputs = source.record().at("inputs_length").get<int64_t>(),
                          .targets = source.lengths().targets_length,
                          .batch = source.record().at("batch").get<int64_t>()};
  r.training = run_step_bench(*step);
  r.ratio = r.pipeline.tokens_per_second / r.training->tokens_per_second;
  return r;
}

nlohmann::json to_json(const PipelineBenchResult& r) {
  return {{"batches", r.batches},
          {"seconds", r.seconds},
          {"tokens", r.batch_tokens},
          {"tokens_definition", "batch * (inputs_length + targets_length)"},
          {"tokens_per_second", r.tokens_per_second},
          {"nonpad_tokens", r.nonpad_tokens},
          {"raw_tokens", r.raw_tokens},
          {"raw_tokens_per_second", r.raw_tokens_per_second},
          {"documents", r.documents},
          {"examples", r.examples},
          {"source", r.source}};
}

nlohmann::json to_json(const DataVsTrainingResult& r) {
  nlohmann::json j = {{"pipeline", to_json(r.pipeline)}};
  if (r.training) {
    j["training"] = to_json(*r.training);
    j["ratio"] = r.ratio;
    j["required_ratio"] = kRequiredPipelineRatio;
    j["meets_requirement"] = r.ratio >= kRequiredPipelineRatio;
  }
  return j;
}

}  // namespace t5
