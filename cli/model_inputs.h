// What `t5scale loss` and `t5scale step` both read: a shape (name or config.json), HF weights and one
// batch file in HF form (core/hf_batch.h), each error naming its file and place.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/batch.h"
#include "core/model.h"

namespace t5::cli {

struct ModelInputs {
  Model model;
  Batch batch;
};

// resolve_shape(model_arg), load_hf_weights(weights file or DIR/model.safetensors) and
// batch_from_hf_json(batch_path) checked against the vocabulary; a batch without label tokens is an
// error (nothing to evaluate or train on).
ModelInputs load_model_inputs(const std::string& model_arg, const std::string& weights, const std::string& batch_path);

}  // namespace t5::cli
