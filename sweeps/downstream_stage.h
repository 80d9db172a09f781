// The downstream stage of a sweep variant (issue 14): after pretraining, each task of the spec's
// downstream block is fine-tuned from the variant's final weights once per fine-tuning seed
// (downstream/finetune.h), and with "from_scratch" once more from random init, the baseline that
// pretraining has to beat. Every fine-tuning run lives in its own directory under the variant's
// downstream directory and resumes there, so a variant killed in its downstream stage continues it.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/model.h"
#include "sweeps/spec.h"

namespace t5 {

// The record's "downstream" block:
//   {"settings": to_json(spec.downstream), "seconds": wall time of the stage in this process,
//    "tasks": {task: {"primary_metric", "higher_is_better",
//                     "pretrained":   {"runs": [{seed, best_step, best_validation, test, train_seconds,
//                                               eval_seconds}], "n", "test_mean", "test_sd"},
//                     "from_scratch": the same (when asked for)}}}
// test_mean / test_sd: mean and sample standard deviation (null below 2 runs) of the primary test metric.
// `pretrained` holds the variant's final weights; it is left as it was.
nlohmann::json run_downstream_stage(const SweepSpec& spec, const Variant& variant, const Model& pretrained,
                                    const std::string& dir);

// Removes the bulky files of finished fine-tuning runs under `dir` (checkpoints, best weights); the
// results and predictions stay.
void prune_downstream_dir(const std::string& dir);

}  // namespace t5
