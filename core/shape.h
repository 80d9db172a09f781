// The shape of a T5 model (SPEC.md §1) and its strict JSON forms: our own shape JSON and Hugging
// Face's config.json (SPEC.md §5). A Shape holds model structure only: no run settings.
//
// Two structural flags of the t5-efficient model cards' abbreviation table (README "Shape names"):
// `skv` "key-values projection matrices are tied" is Mesh TensorFlow's `shared_kv`
// (mesh_tensorflow/transformer/attention.py AttentionParams: one variable "kv" replaces "k" and "v",
// and transformer_layers.py SelfAttention.call uses the one projection as both k and v). `sh`
// "attention heads are shared" has no published definition; t5scale reads it as the attention
// projections (q, k, v, o) shared by all layers of a stack, per attention kind, and documents the
// evidence in README ("sh: what it means here").
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace t5 {

enum class FeedForward { relu, gated_gelu };

const char* to_string(FeedForward kind);           // "relu" | "gated-gelu" (HF's spelling)
FeedForward parse_feed_forward(const std::string& text);  // throws t5::Error

struct Shape {
  std::string name;          // how the user named it, e.g. "t5-efficient-small-dl4"; may be empty
  int64_t el = 0;            // encoder layers
  int64_t dl = 0;            // decoder layers
  int64_t dm = 0;            // d_model
  int64_t ff = 0;            // d_ff
  int64_t kv = 0;            // d_kv, per-head key/value size
  int64_t nh = 0;            // heads
  int64_t vocab_size = 32128;
  int64_t relative_buckets = 32;
  int64_t relative_max_distance = 128;
  FeedForward feed_forward = FeedForward::relu;
  bool tied = true;          // lm_head shares the input embedding (logits scaled by dm^-0.5)
  double dropout = 0.0;
  double layer_norm_epsilon = 1e-6;
  bool shared_kv = false;    // skv: one projection serves as keys and values in every attention
  bool shared_heads = false; // sh: each stack's attention projections (per kind) shared by its layers

  int64_t inner() const { return nh * kv; }   // attention projection width; need not equal dm
  bool gated() const { return feed_forward == FeedForward::gated_gelu; }

  // Throws t5::Error naming the first impossible field ("dm must be positive, got 0").
  void validate() const;
  bool same_structure(const Shape& other) const;  // equal in everything but name
};

// Our shape JSON: {"name"?, "el", "dl", "dm", "ff", "kv", "nh", "vocab_size"?, "relative_buckets"?,
// "relative_max_distance"?, "feed_forward_proj"?, "tie_word_embeddings"?, "dropout_rate"?,
// "layer_norm_epsilon"?, "shared_kv"?, "shared_heads"?}; "nl" may stand for el = dl. Unknown keys and
// wrong types are errors. shape_to_json writes the two flags only when true (absent = false).
// `where` names the source (a file path) in error messages.
Shape shape_from_json(const nlohmann::json& j, const std::string& where);
nlohmann::json shape_to_json(const Shape& s);

// Hugging Face T5Config (config.json). Reading ignores HF keys that do not affect the shape
// (e.g. "transformers_version", "task_specific_params") but rejects keys HF does not define, except
// t5scale's own "shared_kv" and "shared_heads": transformers' T5 cannot express either, so a model
// directory of such a shape is a t5scale directory (its config.json carries the flags, its
// safetensors the tied tensors) that transformers cannot load faithfully; see hf_exportable().
Shape shape_from_hf_config(const nlohmann::json& j, const std::string& where);
nlohmann::json shape_to_hf_config(const Shape& s);

// Whether transformers' T5ForConditionalGeneration computes this shape (false with sh or skv); when
// not, `why` receives one sentence saying what it cannot express.
bool hf_exportable(const Shape& s, std::string* why = nullptr);

// Reads a shape JSON or a config.json file (told apart by its keys).
Shape load_shape_file(const std::string& path);

}  // namespace t5
