// Weights in and out of t5scale: Hugging Face interchange (model.safetensors + config.json, SPEC.md
// §5) driven by the ParamTable's names and shapes, and the training checkpoint directory
// (model.safetensors + config.json + optimizer.safetensors + state.json) that a resumed run reads
// back bit-identically. Every file is written atomically; a checkpoint directory is swapped in whole.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/param_table.h"
#include "core/safetensors.h"

namespace t5 {

class Model;

// --- Hugging Face interchange ---

// Loads every parameter of `table` from a safetensors file into `params` (laid out by the table),
// converting F16/BF16 to float32. Names and shapes come from the table. Import rules (SPEC.md §5):
// `encoder.embed_tokens.weight` and `decoder.embed_tokens.weight` (and, for a tied model,
// `lm_head.weight`) are aliases of `shared.weight`: any present is accepted, and all present must
// agree; a stray `decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight` is ignored.
// A missing tensor, a wrong shape or an unexpected tensor is an error naming the tensor and file.
void load_hf_weights(const ParamTable& table, float* params, const std::string& safetensors_path);
void load_hf_weights(Model& model, const std::string& safetensors_path);

// The table's tensors (HF names, table order) copied out of a buffer laid out by the table, e.g.
// the parameters or the gradients; `dtype` is the file dtype they will be written as.
std::vector<Tensor> tensors_from_buffer(const ParamTable& table, const float* buffer, const std::string& dtype = "F32");
std::vector<Tensor> gradients_as_tensors(const Model& model);   // tied: one shared.weight gradient

// Writes `dir`/model.safetensors (every table tensor; lm_head.weight only when untied) and
// `dir`/config.json (shape_to_hf_config), creating `dir`. `dtype` "F32" or "BF16".
void save_hf_model(const ParamTable& table, const float* params, const std::string& dir, const std::string& dtype = "F32");
void save_hf_model(const Model& model, const std::string& dir, const std::string& dtype = "F32");

// Writes a safetensors file of the table's parameters plus config.json in the same directory.
void save_hf_weights_with_config(const ParamTable& table, const float* params, const std::string& safetensors_path,
                                 const std::string& dtype = "F32");

// The weights file of a model argument: `path` itself if it is a file, else `path`/model.safetensors.
std::string hf_weights_path(const std::string& path);

// --- training checkpoints ---

// A checkpoint directory holds model.safetensors + config.json (a loadable HF model), the optimizer
// state tensors in optimizer.safetensors and the trainer's state.json (step, RNG state, data
// position, configs: whatever the trainer gives). Saving writes `dir`.tmp (a leftover one is
// removed first), fsyncs every file and the directory, then swaps it in for `dir` atomically
// (renameat2 RENAME_EXCHANGE, or rename when `dir` does not exist yet), so a kill at any moment
// leaves either the old or the new checkpoint at `dir`, never a torn one.
void save_training_checkpoint(const std::string& dir, const ParamTable& table, const float* params,
                              const std::vector<Tensor>& optimizer_state, const nlohmann::json& state);

struct TrainingCheckpoint {
  std::vector<Tensor> optimizer_state;   // in file order
  nlohmann::json state;                  // state.json as saved
};

// True when `dir` holds the four files of a checkpoint (a `dir`.tmp beside it is never looked at).
bool is_training_checkpoint(const std::string& dir);

// Loads the weights into `params` (checked against `table` like load_hf_weights, and config.json
// must describe the same structure) and returns the optimizer state and state.json.
TrainingCheckpoint load_training_checkpoint(const std::string& dir, const ParamTable& table, float* params);

}  // namespace t5
