// Builds the parameter table in Hugging Face's order and names (SPEC.md §5), with the HF init
// statistics of SPEC.md §4. shared_kv: one "kv" projection per attention, initialised like k and v
// (Mesh TF AttentionParams.init_weights: kv_init N(0, dm^-1/2)); shared_heads: attention
// projections in block 0 only.
#include "core/param_table.h"

#include <cmath>

#include "core/error.h"

namespace t5 {

const char* to_string(Component c) {
  switch (c) {
    case Component::embedding: return "embedding";
    case Component::encoder_attention: return "encoder_attention";
    case Component::encoder_feed_forward: return "encoder_feed_forward";
    case Component::encoder_norm: return "encoder_norm";
    case Component::decoder_self_attention: return "decoder_self_attention";
    case Component::decoder_cross_attention: return "decoder_cross_attention";
    case Component::decoder_feed_forward: return "decoder_feed_forward";
    case Component::decoder_norm: return "decoder_norm";
    case Component::relative_bias: return "relative_bias";
    case Component::final_norm: return "final_norm";
    case Component::lm_head: return "lm_head";
  }
  return "?";
}

void ParamTable::add(std::string name, std::vector<int64_t> shape, ParamInit init, Component component,
                     Role role, int stack, int layer, int sublayer) {
  ParamSpec p;
  p.numel = 1;
  for (int64_t d : shape) p.numel *= d;
  p.name = std::move(name);
  p.shape = std::move(shape);
  p.init = init;
  p.component = component;
  p.role = role;
  p.stack = stack;
  p.layer = layer;
  p.sublayer = sublayer;
  p.offset = total_;
  total_ += p.numel;
  by_name_[p.name] = params_.size();
  params_.push_back(std::move(p));
}

ParamTable::ParamTable(const Shape& shape) : shape_(shape) {
  shape.validate();
  const int64_t dm = shape.dm, ff = shape.ff, inner = shape.inner(), V = shape.vocab_size;
  const double sd_dm = 1.0 / std::sqrt(double(dm));
  const ParamInit ones{true, 0.0};
  const ParamInit q_init{false, 1.0 / std::sqrt(double(dm) * double(shape.kv))};
  const ParamInit kv_init{false, sd_dm};
  const ParamInit o_init{false, 1.0 / std::sqrt(double(inner))};
  const ParamInit wi_init{false, sd_dm};
  const ParamInit wo_init{false, 1.0 / std::sqrt(double(ff))};

  add("shared.weight", {V, dm}, {false, 1.0}, Component::embedding, Role::shared, -1, -1, -1);

  auto attention = [&](const std::string& prefix, Component comp, int stack, int layer, int sub,
                       bool with_bias) {
    if (layer == 0 || !shape.shared_heads) {
      add(prefix + ".q.weight", {inner, dm}, q_init, comp, Role::q, stack, layer, sub);
      if (shape.shared_kv) {
        add(prefix + ".kv.weight", {inner, dm}, kv_init, comp, Role::kv, stack, layer, sub);
      } else {
        add(prefix + ".k.weight", {inner, dm}, kv_init, comp, Role::k, stack, layer, sub);
        add(prefix + ".v.weight", {inner, dm}, kv_init, comp, Role::v, stack, layer, sub);
      }
      add(prefix + ".o.weight", {dm, inner}, o_init, comp, Role::o, stack, layer, sub);
    }
    if (with_bias)
      add(prefix + ".relative_attention_bias.weight", {shape.relative_buckets, shape.nh}, {false, sd_dm},
          Component::relative_bias, Role::relative_bias, stack, -1, sub);
  };
  auto feed_forward = [&](const std::string& prefix, Component comp, int stack, int layer, int sub) {
    if (shape.gated()) {
      add(prefix + ".DenseReluDense.wi_0.weight", {ff, dm}, wi_init, comp, Role::wi_0, stack, layer, sub);
      add(prefix + ".DenseReluDense.wi_1.weight", {ff, dm}, wi_init, comp, Role::wi_1, stack, layer, sub);
    } else {
      add(prefix + ".DenseReluDense.wi.weight", {ff, dm}, wi_init, comp, Role::wi, stack, layer, sub);
    }
    add(prefix + ".DenseReluDense.wo.weight", {dm, ff}, wo_init, comp, Role::wo, stack, layer, sub);
  };

  for (int i = 0; i < shape.el; ++i) {
    const std::string b = fmt::format("encoder.block.{}.layer.", i);
    attention(b + "0.SelfAttention", Component::encoder_attention, 0, i, 0, i == 0);
    add(b + "0.layer_norm.weight", {dm}, ones, Component::encoder_norm, Role::norm, 0, i, 0);
    feed_forward(b + "1", Component::encoder_feed_forward, 0, i, 1);
    add(b + "1.layer_norm.weight", {dm}, ones, Component::encoder_norm, Role::norm, 0, i, 1);
  }
  add("encoder.final_layer_norm.weight", {dm}, ones, Component::final_norm, Role::final_norm, 0, -1, -1);

  for (int i = 0; i < shape.dl; ++i) {
    const std::string b = fmt::format("decoder.block.{}.layer.", i);
    attention(b + "0.SelfAttention", Component::decoder_self_attention, 1, i, 0, i == 0);
    add(b + "0.layer_norm.weight", {dm}, ones, Component::decoder_norm, Role::norm, 1, i, 0);
    attention(b + "1.EncDecAttention", Component::decoder_cross_attention, 1, i, 1, false);
    add(b + "1.layer_norm.weight", {dm}, ones, Component::decoder_norm, Role::norm, 1, i, 1);
    feed_forward(b + "2", Component::decoder_feed_forward, 1, i, 2);
    add(b + "2.layer_norm.weight", {dm}, ones, Component::decoder_norm, Role::norm, 1, i, 2);
  }
  add("decoder.final_layer_norm.weight", {dm}, ones, Component::final_norm, Role::final_norm, 1, -1, -1);

  // Untied output projection; N(0, dm^-1/2) rather than HF's N(0,1) (SPEC.md §4).
  if (!shape.tied) add("lm_head.weight", {V, dm}, {false, sd_dm}, Component::lm_head, Role::lm_head, -1, -1, -1);
}

const ParamSpec* ParamTable::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &params_[it->second];
}

const ParamSpec& ParamTable::at(const std::string& name) const {
  const ParamSpec* p = find(name);
  T5_CHECK(p != nullptr, "'{}' is not a parameter of shape {}", name, shape_.name.empty() ? "?" : shape_.name);
  return *p;
}

const ParamSpec& ParamTable::get(int stack, int layer, Role role, int sublayer) const {
  const bool projection = role == Role::q || role == Role::k || role == Role::v || role == Role::kv || role == Role::o;
  if (projection && shape_.shared_heads && layer > 0) layer = 0;  // every layer reads block 0's projections
  for (const auto& p : params_)
    if (p.stack == stack && p.layer == layer && p.role == role && p.sublayer == sublayer) return p;
  throw Error(fmt::format("no parameter with role {} in stack {} layer {} sublayer {}", int(role), stack,
                          layer, sublayer));
}

int64_t ParamTable::count(Component c) const {
  int64_t n = 0;
  for (const auto& p : params_)
    if (p.component == c) n += p.numel;
  return n;
}

}  // namespace t5
