// The T5 encoder-decoder model (SPEC.md §4): one float32 parameter buffer and one gradient buffer,
// both laid out by the ParamTable, and a forward/backward pass built from the layer pairs of
// core/layers.h. Semantics follow Hugging Face's modeling_t5 (T5ForConditionalGeneration); the
// parity tests compare against tests/reference/t5_reference.py.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/batch.h"
#include "core/gemm.h"
#include "core/param_table.h"
#include "core/shape.h"

namespace t5 {

// fp32: everything f32. bf16: mixed precision (core/mixed_precision.h): every matrix product takes bf16
// operands (AMX) with f32 accumulation; master weights, norms, softmax, loss and gradients stay f32.
enum class Precision { fp32, bf16 };
const char* to_string(Precision p);                 // "fp32" | "bf16"
Precision parse_precision(const std::string& text);  // throws t5::Error naming the accepted values
GemmPrecision gemm_precision(Precision p);           // the precision of the pass's matrix products

struct ForwardOptions {
  double z_loss = 0.0;   // coefficient of z-loss (1e-4 in Mesh TF); 0 = off
  double dropout = 0.0;  // dropout rate (SPEC §4 places); when > 0 the masks derive from `seed`
  uint64_t seed = 0;
  Precision precision = Precision::fp32;
  int64_t head_chunk_rows = 0;  // decoder rows per output-head chunk; 0 = as many as fit in 128 MB of logits
};

struct LossResult {
  double loss = 0;               // mean cross entropy (nats) over label tokens (excludes z-loss)
  double z_loss = 0;             // mean z-loss term (coefficient applied), 0 if off
  double sum_cross_entropy = 0;  // summed over label tokens
  int64_t label_tokens = 0;
};

class Model {
 public:
  explicit Model(const Shape& shape);  // builds the ParamTable; params and grads zeroed
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;

  const Shape& shape() const { return table_.shape(); }
  const ParamTable& table() const { return table_; }
  int64_t num_params() const { return table_.total(); }
  float* params() { return params_.data(); }
  const float* params() const { return params_.data(); }
  float* grads() { return grads_.data(); }
  const float* grads() const { return grads_.data(); }
  void zero_grads();

  // Forward + backward; ADDS grad_scale * d(loss + z_loss)/dparams into grads() (accumulation).
  // A batch without label tokens returns zeros and adds nothing.
  LossResult forward_backward(const Batch& batch, const ForwardOptions& opt = {}, float grad_scale = 1.0f);
  // Forward only (no dropout unless opt.dropout > 0).
  LossResult evaluate(const Batch& batch, const ForwardOptions& opt = {});
  // Output logits [batch, Ld, V] of a forward pass without dropout (tests, generation checks).
  std::vector<float> logits(const Batch& batch);

  struct Workspace;  // opaque: parameter offsets and per-geometry activation buffers (core/model.cpp)

 private:
  ParamTable table_;
  std::vector<float> params_;
  std::vector<float> grads_;
  std::unique_ptr<Workspace> work_;
};

// HF init statistics of SPEC.md §4 (owner: CHECKPOINT helper, core/init.cpp).
void init_params(Model& model, uint64_t seed);

}  // namespace t5
