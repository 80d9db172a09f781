// The one parameter table (STYLE.md): every tensor of a T5 model as {HF name, shape, init, component,
// offset}. It drives allocation of the single parameter and gradient buffers, the parameter count,
// checkpoint save/load and the parity tests. Nothing else enumerates parameters.
// Tied structures are absent tensors, not aliases: a shared_kv (skv) attention has one
// `<prefix>.kv.weight` [inner, dm] (Mesh TF's variable "kv") instead of k and v; with shared_heads (sh)
// only block 0 of each stack holds the q, k/v/kv and o of each attention kind, which every block of
// that stack uses (get() resolves them).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/shape.h"

namespace t5 {

// Where a tensor belongs, for the per-component parameter breakdown.
enum class Component {
  embedding,       // shared.weight
  encoder_attention, encoder_feed_forward, encoder_norm,
  decoder_self_attention, decoder_cross_attention, decoder_feed_forward, decoder_norm,
  relative_bias,   // one [buckets, nh] table per stack
  final_norm,      // encoder.final_layer_norm, decoder.final_layer_norm
  lm_head,         // untied output projection only
};
const char* to_string(Component c);

// What a tensor is inside its layer; lets the model find its weights without string matching.
// kv: the one key-and-value projection of a shared_kv (skv) shape, in place of k and v.
enum class Role { shared, q, k, v, kv, o, wi, wi_0, wi_1, wo, norm, relative_bias, final_norm, lm_head };

struct ParamInit {
  bool ones = false;   // RMSNorm weights start at 1
  double std = 0.0;    // otherwise N(0, std^2)
};

struct ParamSpec {
  std::string name;               // Hugging Face name, e.g. "encoder.block.0.layer.0.SelfAttention.q.weight"
  std::vector<int64_t> shape;     // [out, in] for projections, as HF stores them
  ParamInit init;
  Component component;
  Role role;
  int stack = -1;                 // 0 encoder, 1 decoder, -1 shared/lm_head
  int layer = -1;                 // block index within the stack, -1 for stack-level tensors
  int sublayer = -1;              // HF's layer.{0,1,2}: 0 self-attn, 1 cross-attn (decoder) or FF
  int64_t offset = 0;             // first float in the parameter buffer
  int64_t numel = 0;
};

class ParamTable {
 public:
  explicit ParamTable(const Shape& shape);

  const Shape& shape() const { return shape_; }
  const std::vector<ParamSpec>& params() const { return params_; }
  int64_t total() const { return total_; }     // floats in the parameter buffer == parameter count

  // Throws t5::Error if `name` is not a parameter of this shape.
  const ParamSpec& at(const std::string& name) const;
  const ParamSpec* find(const std::string& name) const;
  // The tensor with `role` in block `layer` of `stack` (0 encoder, 1 decoder); `sublayer` is HF's
  // layer index: encoder 0 attention / 1 FF, decoder 0 self / 1 cross / 2 FF (norms likewise).
  // Relative-bias tables have layer -1 and sublayer 0. With shared_heads an attention projection of
  // any layer resolves to block 0's tensor. Throws if absent (e.g. Role::v of a shared_kv shape).
  const ParamSpec& get(int stack, int layer, Role role, int sublayer = 0) const;

  // Parameter count per component.
  int64_t count(Component c) const;

 private:
  void add(std::string name, std::vector<int64_t> shape, ParamInit init, Component component, Role role,
           int stack, int layer, int sublayer);
  Shape shape_;
  std::vector<ParamSpec> params_;
  std::unordered_map<std::string, size_t> by_name_;
  int64_t total_ = 0;
};

}  // namespace t5
