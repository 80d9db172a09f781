// Reads the PyTorch parity fixtures of tests/fixtures/model (written by tests/reference/t5_reference.py):
// NAME.json describes tensors stored as little-endian float32 in NAME.bin.
#pragma once

#include <cmath>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/hf_batch.h"
#include "core/model.h"
#include "core/shape.h"

namespace t5::testing {

struct ModelFixture {
  std::string name;
  nlohmann::json meta;
  Shape shape;
  Batch batch;
  std::vector<float> data;

  // The tensor `key` ("param/<HF name>", "grad/<HF name>", "grad_z/<HF name>", "logits").
  std::vector<float> tensor(const std::string& key, std::vector<int64_t>* shape_out = nullptr) const {
    T5_CHECK(meta["tensors"].contains(key), "fixture {}: no tensor '{}'", name, key);
    const auto& t = meta["tensors"][key];
    const auto shape = t["shape"].get<std::vector<int64_t>>();
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    const int64_t offset = t["offset"].get<int64_t>();
    T5_CHECK(offset >= 0 && offset + n <= int64_t(data.size()), "fixture {}: tensor '{}' out of range", name, key);
    if (shape_out) *shape_out = shape;
    return {data.begin() + offset, data.begin() + offset + n};
  }

  // A whole buffer laid out by the model's table, from tensors "<prefix><HF name>".
  std::vector<float> buffer(const std::string& prefix, const ParamTable& table) const {
    std::vector<float> out(size_t(table.total()));
    for (const auto& p : table.params()) {
      std::vector<int64_t> shape;
      const std::vector<float> t = tensor(prefix + p.name, &shape);
      T5_CHECK(shape == p.shape, "fixture {}: '{}' has another shape than the parameter table", name, p.name);
      std::copy(t.begin(), t.end(), out.begin() + p.offset);
    }
    return out;
  }

  void load_params(Model& model) const {
    const std::vector<float> p = buffer("param/", model.table());
    std::copy(p.begin(), p.end(), model.params());
  }
};

// Sharing flags (sh, skv) against their definition: the same function as the shape without them whose
// tied tensors are copies. shared_source is the tensor of a sharing table that tensor `p` of the plain
// table copies (skv: k and v read kv; sh: every layer reads block 0's projections).
inline const ParamSpec& shared_source(const ParamTable& shared, const ParamSpec& p) {
  const bool kv = shared.shape().shared_kv && (p.role == Role::k || p.role == Role::v);
  return shared.get(p.stack, p.layer, kv ? Role::kv : p.role, p.sublayer);
}

// `plain` (the shape without the flags) gets `shared`'s parameters, copied into every place they serve.
inline void untie_params(const Model& shared, Model& plain) {
  for (const auto& p : plain.table().params())
    std::copy_n(shared.params() + shared_source(shared.table(), p).offset, p.numel, plain.params() + p.offset);
}

// `plain`'s gradients summed into `shared`'s layout: the gradient a tied tensor must have.
inline std::vector<float> tie_gradients(const Model& plain, const ParamTable& shared) {
  std::vector<float> out(size_t(shared.total()), 0.0f);
  for (const auto& p : plain.table().params()) {
    float* dst = out.data() + shared_source(shared, p).offset;
    for (int64_t i = 0; i < p.numel; ++i) dst[i] += plain.grads()[p.offset + i];
  }
  return out;
}

inline Shape without_sharing(Shape s) {
  s.shared_kv = s.shared_heads = false;
  return s;
}

inline std::string fixture_dir() { return std::string(T5SCALE_SOURCE_DIR) + "/tests/fixtures/model/"; }

inline ModelFixture load_model_fixture(const std::string& name) {
  ModelFixture f;
  f.name = name;
  std::ifstream js(fixture_dir() + name + ".json");
  T5_CHECK(js.good(), "cannot open fixture {}.json", name);
  f.meta = nlohmann::json::parse(js);
  f.shape = shape_from_hf_config(f.meta["config"], name + ".json:config");
  f.batch = batch_from_hf_json(f.meta["batch"], name + ".json:batch", f.shape.vocab_size);
  std::ifstream bin(fixture_dir() + name + ".bin", std::ios::binary | std::ios::ate);
  T5_CHECK(bin.good(), "cannot open fixture {}.bin", name);
  const auto bytes = int64_t(bin.tellg());
  f.data.resize(size_t(bytes / 4));
  bin.seekg(0);
  bin.read(reinterpret_cast<char*>(f.data.data()), bytes);  // little-endian host (x86-64)
  return f;
}

// ‖a − b‖ / ‖b‖ over the range [offset, offset + n).
inline double relative_error(const float* a, const float* b, int64_t n) {
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < n; ++i) {
    diff += (double(a[i]) - double(b[i])) * (double(a[i]) - double(b[i]));
    norm += double(b[i]) * double(b[i]);
  }
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

}  // namespace t5::testing
