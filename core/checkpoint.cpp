// Hugging Face interchange and training checkpoints (SPEC.md §5). Names and shapes come only from
// the ParamTable; the alias and stray-tensor rules are those of transformers' T5 loading
// (`_tied_weights_keys`, `_keys_to_ignore_on_load_unexpected` in modeling_t5.py).
#include "core/checkpoint.h"

#include <fcntl.h>
#include <stdio.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_file.h"
#include "core/model.h"
#include "core/shape.h"

namespace t5 {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const char* const kSharedName = "shared.weight";
// Older transformers versions saved this unused table in the first cross-attention layer.
const char* const kStrayBias = "decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight";

const char* const kModelFile = "model.safetensors";
const char* const kConfigFile = "config.json";
const char* const kOptimizerFile = "optimizer.safetensors";
const char* const kStateFile = "state.json";

// Names under which a file may store the shared embedding, in order of preference.
std::vector<std::string> shared_sources(bool tied) {
  std::vector<std::string> names = {kSharedName, "encoder.embed_tokens.weight", "decoder.embed_tokens.weight"};
  if (tied) names.push_back("lm_head.weight");   // tied lm_head is the shared matrix itself
  return names;
}

// "'a', 'b', 'c' and 4 more"
std::string name_list(const std::vector<std::string>& names, size_t shown = 3) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < shown; ++i) out += (i ? ", '" : "'") + names[i] + "'";
  if (names.size() > shown) out += fmt::format(" and {} more", names.size() - shown);
  return out;
}

std::string shape_label(const Shape& s) {
  return s.name.empty() ? fmt::format("el{}-dl{}-dm{}-ff{}-kv{}-nh{}", s.el, s.dl, s.dm, s.ff, s.kv, s.nh) : s.name;
}

void check_shape(const TensorInfo& info, const std::vector<int64_t>& want, const std::string& path) {
  T5_CHECK_HINT(info.shape == want, "the weights belong to a different model shape; pass its config.json as --model",
                "{}: tensor '{}' has shape {}, expected {}", path, info.name, shape_string(info.shape),
                shape_string(want));
}

}  // namespace

void load_hf_weights(const ParamTable& table, float* params, const std::string& path) {
  const SafetensorsFile file(path);
  const ParamSpec& shared = table.at(kSharedName);

  // Sort the file's tensors into parameters, shared-embedding sources, and the rest; check every
  // name and shape before reading anything, so a rejected file leaves `params` untouched.
  std::vector<std::pair<const TensorInfo*, const ParamSpec*>> direct;
  std::vector<const TensorInfo*> sources;
  std::vector<std::string> unexpected;
  const std::vector<std::string> source_names = shared_sources(table.shape().tied);
  for (const std::string& name : source_names)
    if (const TensorInfo* info = file.find(name)) sources.push_back(info);
  for (const TensorInfo& info : file.tensors()) {
    if (info.name == kStrayBias) continue;
    if (std::find(source_names.begin(), source_names.end(), info.name) != source_names.end()) continue;
    const ParamSpec* spec = table.find(info.name);
    if (spec == nullptr) {
      unexpected.push_back(info.name);
      continue;
    }
    check_shape(info, spec->shape, path);
    direct.emplace_back(&info, spec);
  }
  T5_CHECK_HINT(unexpected.empty(), "the weights belong to a different model shape; pass its config.json as --model",
                "{}: unexpected tensor {} for shape {}", path, name_list(unexpected), shape_label(table.shape()));
  for (const TensorInfo* s : sources) check_shape(*s, shared.shape, path);

  std::vector<std::string> missing;
  if (sources.empty()) missing.push_back(kSharedName);
  for (const ParamSpec& spec : table.params()) {
    if (spec.name == kSharedName) continue;
    const bool present = std::any_of(direct.begin(), direct.end(), [&](const auto& d) { return d.second == &spec; });
    if (!present) missing.push_back(spec.name);
  }
  T5_CHECK_HINT(missing.empty(), "the weights belong to a different model shape; pass its config.json as --model",
                "{}: missing tensor {} ({} of {} parameters absent) for shape {}", path, name_list(missing),
                missing.size(), table.params().size(), shape_label(table.shape()));

  for (const auto& [info, spec] : direct) file.read(*info, params + spec->offset);
  float* embedding = params + shared.offset;
  file.read(*sources.front(), embedding);
  std::vector<float> other;
  for (size_t i = 1; i < sources.size(); ++i) {
    other.resize(size_t(shared.numel));
    file.read(*sources[i], other.data());
    T5_CHECK(std::memcmp(other.data(), embedding, other.size() * sizeof(float)) == 0,
             "{}: tensor '{}' differs from '{}' (both must hold the shared embedding)", path, sources[i]->name,
             sources.front()->name);
  }
}

void load_hf_weights(Model& model, const std::string& safetensors_path) {
  load_hf_weights(model.table(), model.params(), safetensors_path);
}

std::vector<Tensor> tensors_from_buffer(const ParamTable& table, const float* buffer, const std::string& dtype) {
  std::vector<Tensor> out;
  out.reserve(table.params().size());
  for (const ParamSpec& p : table.params())
    out.push_back({p.name, dtype, p.shape, std::vector<float>(buffer + p.offset, buffer + p.offset + p.numel)});
  return out;
}

std::vector<Tensor> gradients_as_tensors(const Model& model) { return tensors_from_buffer(model.table(), model.grads()); }

namespace {

// The table's parameters as a safetensors file (a fill for write_files_atomic); `params` must
// outlive it.
FileFill table_weights_fill(const ParamTable& table, const float* params, const std::string& path,
                            const std::string& dtype) {
  T5_CHECK(dtype == "F32" || dtype == "BF16", "{}: weights dtype must be F32 or BF16, got '{}'", path, dtype);
  std::vector<TensorView> views;
  views.reserve(table.params().size());
  for (const ParamSpec& p : table.params())
    views.push_back({p.name, dtype, p.shape, params + p.offset, size_t(p.numel)});
  return safetensors_fill(path, views);
}

void create_directory(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  T5_CHECK(!ec && fs::is_directory(dir), "{}: cannot create directory: {}", dir, ec ? ec.message() : "not a directory");
}

}  // namespace

void save_hf_weights_with_config(const ParamTable& table, const float* params, const std::string& safetensors_path,
                                 const std::string& dtype) {
  const std::string dir = parent_directory(safetensors_path);
  create_directory(dir);
  // Both files are written in full before either replaces an old one: an error leaves neither changed.
  const std::string config = (fs::path(dir) / kConfigFile).string();
  write_files_atomic({{safetensors_path, table_weights_fill(table, params, safetensors_path, dtype)},
                      {config, text_fill(shape_to_hf_config(table.shape()).dump(2) + "\n")}});
}

void save_hf_model(const ParamTable& table, const float* params, const std::string& dir, const std::string& dtype) {
  save_hf_weights_with_config(table, params, (fs::path(dir) / kModelFile).string(), dtype);
}

void save_hf_model(const Model& model, const std::string& dir, const std::string& dtype) {
  save_hf_model(model.table(), model.params(), dir, dtype);
}

std::string hf_weights_path(const std::string& path) {
  return fs::is_directory(path) ? (fs::path(path) / kModelFile).string() : path;
}

// --- training checkpoints ---

namespace {

std::string sibling(const std::string& dir, const char* suffix) {
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  return d + suffix;
}

// Exchanges two existing directories atomically; false when the filesystem cannot.
bool exchange_directories(const std::string& a, const std::string& b) {
  if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0) return true;
  T5_CHECK(errno == EINVAL || errno == ENOSYS || errno == ENOTSUP, "{}: cannot swap in {}: {}", b, a,
           std::strerror(errno));
  return false;
}

void rename_or_throw(const std::string& from, const std::string& to) {
  T5_CHECK(std::rename(from.c_str(), to.c_str()) == 0, "{}: cannot rename {} to it: {}", to, from, std::strerror(errno));
}

// Completes a swap interrupted in the fallback path (no RENAME_EXCHANGE): `dir` moved to `dir`.old
// but `dir`.tmp not yet renamed. The old checkpoint is complete, so it comes back.
void recover_interrupted_swap(const std::string& dir) {
  const std::string old = sibling(dir, ".old");
  if (!fs::exists(dir) && is_training_checkpoint(old)) rename_or_throw(old, dir);
}

}  // namespace

bool is_training_checkpoint(const std::string& dir) {
  for (const char* f : {kModelFile, kConfigFile, kOptimizerFile, kStateFile})
    if (!fs::is_regular_file(fs::path(dir) / f)) return false;
  return true;
}

void save_training_checkpoint(const std::string& dir, const ParamTable& table, const float* params,
                              const std::vector<Tensor>& optimizer_state, const json& state) {
  recover_interrupted_swap(dir);
  const std::string tmp = sibling(dir, ".tmp");
  std::error_code ec;
  fs::remove_all(tmp, ec);   // left by a run killed while saving
  T5_CHECK(!ec, "{}: cannot remove leftover directory: {}", tmp, ec.message());
  create_directory(tmp);
  save_hf_model(table, params, tmp);
  write_safetensors((fs::path(tmp) / kOptimizerFile).string(), optimizer_state);
  write_text_atomic((fs::path(tmp) / kStateFile).string(), state.dump(2) + "\n");
  fsync_directory(tmp);

  if (!fs::exists(dir)) {
    rename_or_throw(tmp, dir);
  } else if (!exchange_directories(tmp, dir)) {
    const std::string old = sibling(dir, ".old");
    fs::remove_all(old, ec);
    rename_or_throw(dir, old);
    rename_or_throw(tmp, dir);
    fs::remove_all(old, ec);
  }
  fsync_directory(parent_directory(sibling(dir, "")));
  fs::remove_all(tmp, ec);   // after an exchange it holds the previous checkpoint
}

TrainingCheckpoint load_training_checkpoint(const std::string& dir, const ParamTable& table, float* params) {
  recover_interrupted_swap(dir);
  T5_CHECK_HINT(is_training_checkpoint(dir), "a checkpoint directory holds model.safetensors, config.json, "
                "optimizer.safetensors and state.json", "{}: not a training checkpoint", dir);
  const std::string config = (fs::path(dir) / kConfigFile).string();
  const Shape saved = load_shape_file(config);
  T5_CHECK(saved.same_structure(table.shape()), "{}: checkpoint is for shape {}, not {}", config, shape_label(saved),
           shape_label(table.shape()));
  load_hf_weights(table, params, (fs::path(dir) / kModelFile).string());

  TrainingCheckpoint out;
  out.optimizer_state = read_safetensors((fs::path(dir) / kOptimizerFile).string());
  const std::string state_path = (fs::path(dir) / kStateFile).string();
  out.state = read_json_file(state_path);
  return out;
}

}  // namespace t5
