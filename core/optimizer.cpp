// Adafactor (Mesh TF AdafactorOptimizer.apply_grad, SPEC.md §7) and AdamW (torch.optim.AdamW,
// torch 1.13 single-tensor path) over the one parameter buffer. Each tensor is updated serially by
// one thread (tensors in parallel), so results do not depend on the thread count: a resumed run
// continues bit-identically. Reductions accumulate in double, in a fixed order.
// The fused step (StepOptions) zeroes each gradient chunk right after its update reads it and, when
// clipping is off, sums the gradient norm chunk by chunk while the chunk is in cache, so the
// gradient buffer is streamed once per step instead of three times (norm, update, zero_grads).
#include "core/optimizer.h"

#include <algorithm>
#include <cmath>

#include <omp.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/kernels/optimizer_kernels.h"
#include "core/parallel.h"
#include "core/safetensors.h"

namespace t5 {

Optimizer::~Optimizer() = default;

namespace {

constexpr int64_t kNormBlock = int64_t(1) << 16;  // floats per block of global_norm's parallel sum

}  // namespace

double global_norm(const float* x, int64_t n) {
  const int64_t blocks = (n + kNormBlock - 1) / kNormBlock;
  std::vector<double> partial(static_cast<size_t>(blocks));
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b)
    partial[size_t(b)] = sum_squares(x + b * kNormBlock, std::min(kNormBlock, n - b * kNormBlock));
  double sum = 0;
  for (double p : partial) sum += p;
  return std::sqrt(sum);
}

namespace {

// torch.nn.utils.clip_grad_norm_: grads *= min(1, max_norm / (total_norm + 1e-6)).
float clip_coefficient(double norm, double max_norm) {
  if (max_norm <= 0) return 1.0f;
  return float(std::min(1.0, max_norm / (norm + 1e-6)));
}

// One named state slot of one tensor ("<param>.<slot>").
struct Slot {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
};

// Shared plumbing: tensor list, step counter, state (de)serialisation and the parallel loop.
class TensorOptimizer : public Optimizer {
 public:
  TensorOptimizer(const OptimizerConfig& config, const std::vector<ParamSpec>& tensors)
      : config_(config), tensors_(tensors), slots_(tensors.size()) {
    for (const auto& t : tensors_) total_ = std::max(total_, t.offset + t.numel);
  }

  void apply(float* params, const float* grads, float* zero, double lr, double grad_norm) override {
    if (work_.empty()) plan_work();
    before_update();
    // Clipping needs the norm before any update; without it each work item adds its share of the
    // norm while its gradient is in cache (partials summed in work order: thread-count independent).
    const bool fused_norm = grad_norm < 0 && config_.clip_norm <= 0;
    if (grad_norm < 0 && !fused_norm) grad_norm = global_norm(grads, total_);
    const float coef = fused_norm ? 1.0f : clip_coefficient(grad_norm, config_.clip_norm);
    const int64_t n = int64_t(work_.size());
    norm_partial_.assign(size_t(n), 0.0);
    FirstException errors;  // Adafactor's scratch may grow (bad_alloc) inside the region
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t i = 0; i < n; ++i) {
      errors.run([&] {
        const WorkItem& item = work_[size_t(i)];
        const ParamSpec& t = tensors_[item.tensor];
        const float* g = grads + t.offset;
        if (fused_norm) norm_partial_[size_t(i)] = sum_squares(g + item.begin, item.end - item.begin);
        update(t, slots_[item.tensor], params + t.offset, g, zero ? zero + t.offset : nullptr, coef, lr, item.begin,
               item.end);
      });
    }
    errors.rethrow();
    if (fused_norm) {
      double sum = 0;
      for (double p : norm_partial_) sum += p;
      grad_norm = std::sqrt(sum);
    }
    last_norm_ = grad_norm;
    ++step_;
  }

  std::vector<Tensor> state() const override {
    std::vector<Tensor> out;
    Tensor step;
    step.name = "step";
    step.shape = {1};
    step.data = {float(step_)};
    out.push_back(std::move(step));
    for (const auto& slots : slots_)
      for (const auto& s : slots) {
        Tensor t;
        t.name = s.name;
        t.shape = s.shape;
        t.data = s.data;
        out.push_back(std::move(t));
      }
    return out;
  }

  void load_state(const std::vector<Tensor>& tensors) override {
    std::unordered_map<std::string, const Tensor*> by_name;
    for (const auto& t : tensors) by_name[t.name] = &t;
    auto step_it = by_name.find("step");
    T5_CHECK(step_it != by_name.end() && step_it->second->data.size() == 1,
             "optimizer state: missing tensor 'step' of shape [1]");
    step_ = int64_t(step_it->second->data[0]);
    size_t expected = 1;
    for (auto& slots : slots_)
      for (auto& s : slots) {
        auto it = by_name.find(s.name);
        T5_CHECK_HINT(it != by_name.end(), "the state was written by another optimizer or model shape",
                      "optimizer state: missing tensor '{}'", s.name);
        T5_CHECK(it->second->shape == s.shape && it->second->data.size() == s.data.size(),
                 "optimizer state: tensor '{}' has shape {} but {} expects {}", s.name,
                 nlohmann::json(it->second->shape).dump(), config_.name, nlohmann::json(s.shape).dump());
        s.data = it->second->data;
        ++expected;
      }
    T5_CHECK_HINT(expected == tensors.size(), "the state was written by another optimizer configuration",
                  "optimizer state: {} tensors, {} expects {}", tensors.size(), config_.name, expected);
  }

  int64_t step_count() const override { return step_; }
  double last_grad_norm() const override { return last_norm_; }

 protected:
  // Updates elements [begin, end) of one tensor in place; `coef` is the global clipping coefficient for
  // its gradient; `zero` (null, or g itself) gets 0 in [begin, end) once g has been read.
  // Optimizers with per-tensor reductions always get the whole tensor.
  virtual void update(const ParamSpec& t, std::vector<Slot>& slots, float* w, const float* g, float* zero,
                      float coef, double lr, int64_t begin, int64_t end) = 0;
  virtual void before_update() {}  // serial, before the parallel loop of each step
  // Elementwise optimizers return a chunk size: large tensors are then split over the threads too
  // (shared.weight is half of t5-efficient-tiny's parameters and held one thread alone). Results stay
  // bit-identical at any thread count. 0 = whole tensors only.
  virtual int64_t elementwise_chunk() const { return 0; }

  struct WorkItem {
    size_t tensor;
    int64_t begin, end;
  };
  void plan_work() {
    const int64_t chunk = elementwise_chunk();
    for (size_t i = 0; i < tensors_.size(); ++i) {
      const int64_t n = tensors_[i].numel, step = chunk > 0 ? chunk : std::max<int64_t>(n, 1);
      for (int64_t b = 0; b < n || b == 0; b += step) work_.push_back(WorkItem{i, b, std::min(n, b + step)});
    }
  }
  std::vector<WorkItem> work_;  // planned once: tensors, or chunks of them

  void add_slot(size_t tensor, const std::string& suffix, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    slots_[tensor].push_back(Slot{tensors_[tensor].name + "." + suffix, std::move(shape), std::vector<float>(size_t(n), 0.0f)});
  }

  OptimizerConfig config_;
  std::vector<ParamSpec> tensors_;
  std::vector<std::vector<Slot>> slots_;   // per tensor
  int64_t step_ = 0;
  int64_t total_ = 0;
  double last_norm_ = 0;
  std::vector<double> norm_partial_;  // per work item, fused norm only
};

// Mesh TF's Adafactor. A tensor [R, C] is factored when the smaller of its two largest dims reaches
// factor_threshold: vr [R] holds the decayed row means of g^2, vc [C] the column means, and the
// second moment is approximated by outer(vr, vc) / mean(vr). Mesh TF reduces the largest dim into
// one factor; the product is the same either way, so we keep Hugging Face's row/column naming.
class Adafactor final : public TensorOptimizer {
 public:
  Adafactor(const OptimizerConfig& config, const std::vector<ParamSpec>& tensors) : TensorOptimizer(config, tensors) {
    for (size_t i = 0; i < tensors_.size(); ++i) {
      const auto& shape = tensors_[i].shape;
      T5_CHECK(shape.size() <= 2, "adafactor: tensor '{}' has {} dims; only 1-D and 2-D tensors are supported",
               tensors_[i].name, shape.size());
      if (factored(shape)) {
        add_slot(i, "vr", {shape[0]});
        add_slot(i, "vc", {shape[1]});
      } else {
        add_slot(i, "v", shape);
      }
      if (config_.beta1 > 0) add_slot(i, "m", shape);
    }
  }

  bool factored(const std::vector<int64_t>& shape) const {
    return config_.factored && shape.size() == 2 && std::min(shape[0], shape[1]) >= config_.factor_threshold;
  }

 private:
  // Per-thread buffers that only grow: the unscaled update and the column sums / roots of a tensor.
  struct Scratch {
    std::vector<float> x;
    std::vector<double> col, vc_root;
  };
  std::vector<Scratch> scratch_;

  void before_update() override {
    scratch_.resize(std::max(scratch_.size(), size_t(omp_get_max_threads())));
  }

  static void grow(auto& v, int64_t n) {
    if (int64_t(v.size()) < n) v.resize(size_t(n));
  }

  void update(const ParamSpec& t, std::vector<Slot>& slots, float* w, const float* g, float* zero, float coef,
              double lr, int64_t /*begin*/, int64_t /*end*/) override {  // whole tensors (factored reductions)
    const int64_t n = t.numel;
    Scratch& scratch = scratch_[size_t(omp_get_thread_num())];
    AdafactorStep s{};
    s.decay = 1.0 - std::pow(double(step_ + 1), -config_.decay_exponent);
    s.mixing = 1.0 - s.decay;
    s.eps1 = float(config_.epsilon1);
    s.coef = coef;
    s.lr = lr;
    s.epsilon2 = config_.epsilon2;
    s.clipping_threshold = config_.clipping_threshold;
    s.weight_decay = config_.weight_decay;
    s.beta1 = config_.beta1;
    s.multiply_by_parameter_scale = config_.multiply_by_parameter_scale;
    s.factored = factored(t.shape);
    s.R = s.factored ? t.shape[0] : 1;
    s.C = s.factored ? t.shape[1] : n;
    AdafactorBuffers b{};
    grow(scratch.x, n);
    b.x = scratch.x.data();
    if (s.factored) {
      b.vr = slots[0].data.data();
      b.vc = slots[1].data.data();
      grow(scratch.col, s.C), grow(scratch.vc_root, s.C);
      b.col = scratch.col.data();
      b.vc_root = scratch.vc_root.data();
    } else {
      b.v = slots[0].data.data();
    }
    if (config_.beta1 > 0) b.m = slots.back().data.data();
    adafactor_update(s, b, w, g, zero, n);
  }
};

// torch.optim.AdamW (amsgrad off): w *= 1 - lr*wd; m, v EMAs; w -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps).
class AdamW final : public TensorOptimizer {
 public:
  AdamW(const OptimizerConfig& config, const std::vector<ParamSpec>& tensors) : TensorOptimizer(config, tensors) {
    for (size_t i = 0; i < tensors_.size(); ++i) {
      add_slot(i, "exp_avg", tensors_[i].shape);
      add_slot(i, "exp_avg_sq", tensors_[i].shape);
    }
  }

 private:
  int64_t elementwise_chunk() const override { return int64_t(1) << 16; }

  void update(const ParamSpec& t, std::vector<Slot>& slots, float* w, const float* g, float* zero, float coef,
              double lr, int64_t begin, int64_t end) override {
    const double t1 = double(step_ + 1);
    AdamWStep s{};
    s.beta1 = config_.adam_beta1;
    s.beta2 = config_.adam_beta2;
    s.step_size = lr / (1.0 - std::pow(s.beta1, t1));
    s.bc2_sqrt = std::sqrt(1.0 - std::pow(s.beta2, t1));
    s.eps = config_.adam_eps;
    s.decay = float(1.0 - lr * config_.weight_decay);
    s.coef = coef;
    adamw_update(s, w, slots[0].data.data(), slots[1].data.data(), g, zero, begin, end);
  }
};

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, const std::vector<ParamSpec>& tensors) {
  if (config.name == "adafactor") return std::make_unique<Adafactor>(config, tensors);
  if (config.name == "adamw") return std::make_unique<AdamW>(config, tensors);
  throw Error(fmt::format("unknown optimizer '{}'", config.name), "use adafactor or adamw");
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, const ParamTable& table) {
  return make_optimizer(config, table.params());
}

// --- config JSON ----------------------------------------------------------------------------------

nlohmann::json optimizer_config_to_json(const OptimizerConfig& c) {
  return {{"name", c.name},
          {"beta1", c.beta1},
          {"decay_exponent", c.decay_exponent},
          {"epsilon1", c.epsilon1},
          {"epsilon2", c.epsilon2},
          {"clipping_threshold", c.clipping_threshold},
          {"factor_threshold", c.factor_threshold},
          {"multiply_by_parameter_scale", c.multiply_by_parameter_scale},
          {"factored", c.factored},
          {"adam_beta1", c.adam_beta1},
          {"adam_beta2", c.adam_beta2},
          {"adam_eps", c.adam_eps},
          {"weight_decay", c.weight_decay},
          {"clip_norm", c.clip_norm}};
}

OptimizerConfig optimizer_config_from_json(const nlohmann::json& j, const std::string& where) {
  T5_CHECK(j.is_object(), "{}: optimizer config must be a JSON object", where);
  OptimizerConfig c;
  const nlohmann::json defaults = optimizer_config_to_json(c);
  for (const auto& [key, value] : j.items()) {
    T5_CHECK_HINT(defaults.contains(key), "known keys: " + [&] {
      std::string keys;
      for (const auto& [k, v] : defaults.items()) keys += (keys.empty() ? "" : ", ") + k;
      return keys;
    }(), "{}: optimizer.{}: unknown key", where, key);
    const auto& d = defaults[key];
    const bool ok = d.is_string() ? value.is_string()
                    : d.is_boolean() ? value.is_boolean()
                    : d.is_number_integer() ? value.is_number_integer()
                                            : value.is_number();
    T5_CHECK(ok, "{}: optimizer.{}: expected a {}, got {}", where, key, d.type_name(), value.dump());
  }
  auto get = [&](const char* key, auto& field) {
    if (j.contains(key)) j.at(key).get_to(field);
  };
  get("name", c.name);
  get("beta1", c.beta1);
  get("decay_exponent", c.decay_exponent);
  get("epsilon1", c.epsilon1);
  get("epsilon2", c.epsilon2);
  get("clipping_threshold", c.clipping_threshold);
  get("factor_threshold", c.factor_threshold);
  get("multiply_by_parameter_scale", c.multiply_by_parameter_scale);
  get("factored", c.factored);
  get("adam_beta1", c.adam_beta1);
  get("adam_beta2", c.adam_beta2);
  get("adam_eps", c.adam_eps);
  get("weight_decay", c.weight_decay);
  get("clip_norm", c.clip_norm);
  T5_CHECK_HINT(c.name == "adafactor" || c.name == "adamw", "use adafactor or adamw",
                "{}: optimizer.name: unknown optimizer '{}'", where, c.name);
  return c;
}

}  // namespace t5
