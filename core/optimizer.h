// Optimizers over the one contiguous parameter buffer, tensor boundaries from the ParamTable.
// Adafactor as Mesh TensorFlow's AdafactorOptimizer (mesh_tensorflow/optimize.py; Shazeer & Stern
// 2018; SPEC.md §7), with the knobs that also reproduce the Hugging Face / fairseq variant
// (factor every 2-D tensor, no parameter scaling). AdamW with torch.optim.AdamW semantics and
// optional global-norm clipping as torch.nn.utils.clip_grad_norm_.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/param_table.h"

namespace t5 {

struct Tensor;  // core/safetensors.h

struct OptimizerConfig {
  std::string name = "adafactor";  // "adafactor" | "adamw"
  // Adafactor (defaults = Mesh TF as used for the T5 checkpoints).
  double beta1 = 0.0;                 // momentum on the scaled update; 0 = none (Mesh TF default)
  double decay_exponent = 0.8;        // second-moment decay 1 - (t+1)^-decay_exponent
  double epsilon1 = 1e-30;            // added to g^2
  double epsilon2 = 1e-3;             // floor of the parameter RMS scale
  double clipping_threshold = 1.0;    // per-tensor update clipping at this RMS; <= 0 = off
  int64_t factor_threshold = 128;     // factor when the second-largest dim >= this (HF: 0 = every 2-D)
  bool multiply_by_parameter_scale = true;  // lr * max(RMS(W), epsilon2)
  bool factored = true;               // false: full second moments for every tensor
  // AdamW (torch.optim.AdamW defaults, except weight_decay which torch puts at 1e-2).
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_eps = 1e-8;             // added outside the square root, after bias correction
  // Both.
  double weight_decay = 0.0;          // decoupled: w -= lr * weight_decay * w (AdamW; Adafactor as HF)
  double clip_norm = 0.0;             // global gradient-norm clipping before the update; 0 = off
};

// Strict JSON round-trip for checkpoints' state.json (unknown keys are errors).
nlohmann::json optimizer_config_to_json(const OptimizerConfig& c);
OptimizerConfig optimizer_config_from_json(const nlohmann::json& j, const std::string& where);

// Options of a fused update (Optimizer::step with a writable gradient buffer). The results are
// bit-identical to the plain step; only the passes over memory change.
struct StepOptions {
  // Write 0 into each gradient right after the update has read it, so the caller's next step can
  // accumulate into the buffer without a separate zeroing pass (Model::zero_grads).
  bool zero_grads = false;
  // The gradient's global_norm() if the caller already computed it (the trainer does, to detect
  // divergence); < 0 = the optimizer computes it (within the update's pass when clipping is off).
  double grad_norm = -1;
};

class Optimizer {
 public:
  virtual ~Optimizer();
  // One update of the whole buffer with learning rate `lr`; `grads` are not modified. The step
  // counter t (0-based in Adafactor's decay, 1-based in AdamW's bias correction) then advances.
  void step(float* params, const float* grads, double lr) { apply(params, grads, nullptr, lr, -1); }
  // The same update with the fused options above (`grads` is zeroed when options.zero_grads).
  void step(float* params, float* grads, double lr, const StepOptions& options) {
    apply(params, grads, options.zero_grads ? grads : nullptr, lr, options.grad_norm);
  }
  // State as named tensors ("<param name>.<slot>", e.g. "shared.weight.vr", ".exp_avg") plus
  // "step" as a 1-element tensor, for optimizer.safetensors. load_state() checks every name and shape.
  virtual std::vector<Tensor> state() const = 0;
  virtual void load_state(const std::vector<Tensor>& tensors) = 0;
  virtual int64_t step_count() const = 0;
  // The global L2 norm of the last step's gradient, before clipping.
  virtual double last_grad_norm() const = 0;

 protected:
  // `zero` is null or `grads` itself (set to 0 after reading); `grad_norm` < 0 = compute it.
  virtual void apply(float* params, const float* grads, float* zero, double lr, double grad_norm) = 0;
};

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, const ParamTable& table);
// Same over an explicit tensor list (name, shape, offset, numel are used), for tests and fixtures.
std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, const std::vector<ParamSpec>& tensors);

// Global L2 norm of n floats, accumulated in double over fixed blocks and lanes in parallel: the
// same value at any thread count (not bit-equal to one serial sum; differences are rounding).
double global_norm(const float* x, int64_t n);

}  // namespace t5
