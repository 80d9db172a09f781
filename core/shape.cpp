// Shape validation and its two strict JSON forms (ours and Hugging Face's config.json).
#include "core/shape.h"

#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_file.h"

namespace t5 {

using nlohmann::json;

const char* to_string(FeedForward kind) {
  return kind == FeedForward::relu ? "relu" : "gated-gelu";
}

FeedForward parse_feed_forward(const std::string& text) {
  if (text == "relu") return FeedForward::relu;
  if (text == "gated-gelu" || text == "gated_gelu") return FeedForward::gated_gelu;
  throw Error(fmt::format("unknown feed-forward kind '{}'", text), "use \"relu\" or \"gated-gelu\"");
}

void Shape::validate() const {
  const std::string who = name.empty() ? "shape" : name;
  const std::pair<const char*, int64_t> sizes[] = {
      {"dm", dm}, {"ff", ff}, {"kv", kv}, {"nh", nh}, {"vocab_size", vocab_size},
      {"relative_buckets", relative_buckets}, {"relative_max_distance", relative_max_distance}};
  for (const auto& [key, value] : sizes) T5_CHECK(value > 0, "{}: {} must be positive, got {}", who, key, value);
  const std::pair<const char*, int64_t> depths[] = {{"el", el}, {"dl", dl}};
  for (const auto& [key, value] : depths) T5_CHECK(value > 0, "{}: {} must be at least 1, got {}", who, key, value);
  T5_CHECK(relative_buckets % 2 == 0 && relative_buckets >= 4,
           "{}: relative_buckets must be even and at least 4, got {}", who, relative_buckets);
  // The log-spaced buckets (SPEC.md §4) divide by log(max_distance / (buckets / 2)).
  T5_CHECK(relative_max_distance > relative_buckets / 2,
           "{}: relative_max_distance must exceed relative_buckets / 2 = {}, got {}", who, relative_buckets / 2,
           relative_max_distance);
  T5_CHECK(dropout >= 0.0 && dropout < 1.0, "{}: dropout_rate must be in [0, 1), got {}", who, dropout);
  T5_CHECK(layer_norm_epsilon > 0.0, "{}: layer_norm_epsilon must be positive, got {}", who, layer_norm_epsilon);
  // Guard against absurd sizes that would overflow the analytic counts (int64, exact in double).
  const int64_t limit = int64_t{1} << 24;
  const std::pair<const char*, int64_t> all[] = {{"el", el}, {"dl", dl}, {"dm", dm}, {"ff", ff},
                                                 {"kv", kv}, {"nh", nh}, {"vocab_size", vocab_size}};
  for (const auto& [key, value] : all)
    T5_CHECK(value <= limit, "{}: {} = {} is larger than t5scale supports ({})", who, key, value, limit);
  const double d_dm = double(dm), approx_params = 2.0 * double(vocab_size) * d_dm +
                                                  double(el + dl) * (8.0 * d_dm * double(inner()) + 3.0 * d_dm * double(ff));
  T5_CHECK(approx_params < 0x1p50, "{}: about {:.3g} parameters, more than t5scale supports (2^50)", who,
           approx_params);
}

bool Shape::same_structure(const Shape& o) const {
  return el == o.el && dl == o.dl && dm == o.dm && ff == o.ff && kv == o.kv && nh == o.nh &&
         vocab_size == o.vocab_size && relative_buckets == o.relative_buckets &&
         relative_max_distance == o.relative_max_distance && feed_forward == o.feed_forward &&
         tied == o.tied && dropout == o.dropout && layer_norm_epsilon == o.layer_norm_epsilon &&
         shared_kv == o.shared_kv && shared_heads == o.shared_heads;
}

namespace {

int64_t get_int(const json& j, const char* key, const std::string& where) {
  const json& v = j.at(key);
  T5_CHECK(v.is_number_integer(), "{}: key '{}' must be an integer, got {}", where, key, v.dump());
  T5_CHECK(!v.is_number_unsigned() || v.get<uint64_t>() <= uint64_t{INT64_MAX}, "{}: key '{}' is too large: {}",
           where, key, v.dump());
  return v.get<int64_t>();
}

// A size or a depth: an integer of at least 1. Checked here so the message names the file's own key
// (d_model in a config.json, dm in our shape JSON).
int64_t get_size(const json& j, const char* key, const std::string& where) {
  const int64_t value = get_int(j, key, where);
  T5_CHECK(value > 0, "{}: key '{}' must be a positive integer, got {}", where, key, value);
  return value;
}

double get_number(const json& j, const char* key, const std::string& where) {
  const json& v = j.at(key);
  T5_CHECK(v.is_number(), "{}: key '{}' must be a number, got {}", where, key, v.dump());
  return v.get<double>();
}

bool get_bool(const json& j, const char* key, const std::string& where) {
  const json& v = j.at(key);
  T5_CHECK(v.is_boolean(), "{}: key '{}' must be true or false, got {}", where, key, v.dump());
  return v.get<bool>();
}

std::string get_string(const json& j, const char* key, const std::string& where) {
  const json& v = j.at(key);
  T5_CHECK(v.is_string(), "{}: key '{}' must be a string, got {}", where, key, v.dump());
  return v.get<std::string>();
}

// "relu" or "gated-gelu"; an unknown kind names the file and the key like every other bad value.
FeedForward get_feed_forward(const json& j, const std::string& where) {
  const std::string text = get_string(j, "feed_forward_proj", where);
  try {
    return parse_feed_forward(text);
  } catch (const Error& e) {
    throw Error(where + ": key 'feed_forward_proj': " + e.message(), e.hint());
  }
}

void reject_unknown_keys(const json& j, const std::set<std::string>& known, const std::string& where) {
  T5_CHECK(j.is_object(), "{}: expected a JSON object, got {}", where, j.type_name());
  for (const auto& [key, value] : j.items()) {
    if (known.count(key)) continue;
    std::string valid;
    for (const auto& k : known) valid += (valid.empty() ? "" : ", ") + k;
    throw Error(fmt::format("{}: unknown key '{}'", where, key), "valid keys: " + valid);
  }
}

void require_keys(const json& j, std::initializer_list<const char*> keys, const std::string& where) {
  for (const char* key : keys)
    T5_CHECK(j.contains(key), "{}: missing required key '{}'", where, key);
}

// The optional "shared_kv" / "shared_heads" booleans (both JSON forms); absent = false.
void read_sharing_flags(const json& j, Shape& s, const std::string& where) {
  if (j.contains("shared_kv")) s.shared_kv = get_bool(j, "shared_kv", where);
  if (j.contains("shared_heads")) s.shared_heads = get_bool(j, "shared_heads", where);
}

// Written only when set, so the files of shapes without them are unchanged.
void write_sharing_flags(json& j, const Shape& s) {
  if (s.shared_kv) j["shared_kv"] = true;
  if (s.shared_heads) j["shared_heads"] = true;
}

// `s` after Shape::validate(), its error prefixed with where the shape came from.
Shape validated(Shape s, const std::string& where) {
  try {
    s.validate();
  } catch (const Error& e) {
    throw Error(where + ": " + e.message(), e.hint());
  }
  return s;
}

}  // namespace

Shape shape_from_json(const json& j, const std::string& where) {
  static const std::set<std::string> known = {
      "name", "el", "dl", "nl", "dm", "ff", "kv", "nh", "vocab_size", "relative_buckets",
      "relative_max_distance", "feed_forward_proj", "tie_word_embeddings", "dropout_rate",
      "layer_norm_epsilon", "shared_kv", "shared_heads"};
  reject_unknown_keys(j, known, where);
  Shape s;
  if (j.contains("name")) s.name = get_string(j, "name", where);
  if (j.contains("nl")) {
    T5_CHECK(!j.contains("el") && !j.contains("dl"), "{}: 'nl' sets both el and dl; give either nl or el/dl",
             where);
    s.el = s.dl = get_size(j, "nl", where);
  } else {
    require_keys(j, {"el", "dl"}, where);
    s.el = get_size(j, "el", where);
    s.dl = get_size(j, "dl", where);
  }
  require_keys(j, {"dm", "ff", "kv", "nh"}, where);
  s.dm = get_size(j, "dm", where);
  s.ff = get_size(j, "ff", where);
  s.kv = get_size(j, "kv", where);
  s.nh = get_size(j, "nh", where);
  if (j.contains("vocab_size")) s.vocab_size = get_size(j, "vocab_size", where);
  if (j.contains("relative_buckets")) s.relative_buckets = get_size(j, "relative_buckets", where);
  if (j.contains("relative_max_distance"))
    s.relative_max_distance = get_size(j, "relative_max_distance", where);
  if (j.contains("feed_forward_proj")) s.feed_forward = get_feed_forward(j, where);
  if (j.contains("tie_word_embeddings")) s.tied = get_bool(j, "tie_word_embeddings", where);
  if (j.contains("dropout_rate")) s.dropout = get_number(j, "dropout_rate", where);
  if (j.contains("layer_norm_epsilon")) s.layer_norm_epsilon = get_number(j, "layer_norm_epsilon", where);
  read_sharing_flags(j, s, where);
  return validated(std::move(s), where);
}

json shape_to_json(const Shape& s) {
  json j;
  if (!s.name.empty()) j["name"] = s.name;
  j["el"] = s.el;
  j["dl"] = s.dl;
  j["dm"] = s.dm;
  j["ff"] = s.ff;
  j["kv"] = s.kv;
  j["nh"] = s.nh;
  j["vocab_size"] = s.vocab_size;
  j["relative_buckets"] = s.relative_buckets;
  j["relative_max_distance"] = s.relative_max_distance;
  j["feed_forward_proj"] = to_string(s.feed_forward);
  j["tie_word_embeddings"] = s.tied;
  j["dropout_rate"] = s.dropout;
  j["layer_norm_epsilon"] = s.layer_norm_epsilon;
  write_sharing_flags(j, s);
  return j;
}

Shape shape_from_hf_config(const json& j, const std::string& where) {
  // T5Config's own keys plus the generic PretrainedConfig/metadata keys that real checkpoints carry.
  static const std::set<std::string> known = {
      "d_model", "d_kv", "d_ff", "num_layers", "num_decoder_layers", "num_heads",
      "relative_attention_num_buckets", "relative_attention_max_distance", "vocab_size",
      "feed_forward_proj", "tie_word_embeddings", "layer_norm_epsilon", "dropout_rate",
      "decoder_start_token_id", "pad_token_id", "eos_token_id", "bos_token_id", "is_encoder_decoder",
      "model_type", "architectures", "initializer_factor", "use_cache", "torch_dtype",
      "transformers_version", "n_positions", "output_past", "task_specific_params",
      "gradient_checkpointing", "dense_act_fn", "is_gated_act", "classifier_dropout", "_name_or_path",
      "name_or_path", "tokenizer_class", "max_length", "num_beams", "early_stopping",
      // generic PretrainedConfig / generation keys some exported configs carry
      "return_dict", "output_hidden_states", "output_attentions", "torchscript", "use_bfloat16",
      "tie_encoder_decoder", "is_decoder", "add_cross_attention", "min_length", "do_sample", "temperature",
      "top_k", "top_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size", "bad_words_ids",
      "num_return_sequences", "id2label", "label2id", "finetuning_task", "prefix", "sep_token_id",
      "problem_type", "_commit_hash", "decoder_start_token_ids", "forced_bos_token_id",
      "forced_eos_token_id",
      // t5scale's own: structures transformers' T5 cannot express (core/shape.h)
      "shared_kv", "shared_heads"};
  reject_unknown_keys(j, known, where);
  require_keys(j, {"d_model", "d_kv", "d_ff", "num_layers", "num_heads"}, where);
  Shape s;
  s.dm = get_size(j, "d_model", where);
  s.kv = get_size(j, "d_kv", where);
  s.ff = get_size(j, "d_ff", where);
  s.el = get_size(j, "num_layers", where);
  s.dl = j.contains("num_decoder_layers") && !j.at("num_decoder_layers").is_null()
             ? get_size(j, "num_decoder_layers", where)
             : s.el;
  s.nh = get_size(j, "num_heads", where);
  if (j.contains("vocab_size")) s.vocab_size = get_size(j, "vocab_size", where);
  if (j.contains("relative_attention_num_buckets"))
    s.relative_buckets = get_size(j, "relative_attention_num_buckets", where);
  if (j.contains("relative_attention_max_distance"))
    s.relative_max_distance = get_size(j, "relative_attention_max_distance", where);
  if (j.contains("feed_forward_proj")) s.feed_forward = get_feed_forward(j, where);
  if (j.contains("tie_word_embeddings")) s.tied = get_bool(j, "tie_word_embeddings", where);
  if (j.contains("dropout_rate")) s.dropout = get_number(j, "dropout_rate", where);
  if (j.contains("layer_norm_epsilon")) s.layer_norm_epsilon = get_number(j, "layer_norm_epsilon", where);
  if (j.contains("_name_or_path") && j.at("_name_or_path").is_string())
    s.name = j.at("_name_or_path").get<std::string>();
  read_sharing_flags(j, s, where);
  return validated(std::move(s), where);
}

json shape_to_hf_config(const Shape& s) {
  json j;
  j["architectures"] = json::array({"T5ForConditionalGeneration"});
  j["model_type"] = "t5";
  j["d_model"] = s.dm;
  j["d_kv"] = s.kv;
  j["d_ff"] = s.ff;
  j["num_layers"] = s.el;
  j["num_decoder_layers"] = s.dl;
  j["num_heads"] = s.nh;
  j["relative_attention_num_buckets"] = s.relative_buckets;
  j["relative_attention_max_distance"] = s.relative_max_distance;
  j["vocab_size"] = s.vocab_size;
  j["feed_forward_proj"] = to_string(s.feed_forward);
  j["tie_word_embeddings"] = s.tied;
  j["layer_norm_epsilon"] = s.layer_norm_epsilon;
  j["dropout_rate"] = s.dropout;
  if (!s.name.empty()) j["_name_or_path"] = s.name;
  j["initializer_factor"] = 1.0;
  j["decoder_start_token_id"] = 0;
  j["pad_token_id"] = 0;
  j["eos_token_id"] = 1;
  j["is_encoder_decoder"] = true;
  j["use_cache"] = true;
  write_sharing_flags(j, s);
  return j;
}

bool hf_exportable(const Shape& s, std::string* why) {
  std::string reason;
  if (s.shared_kv)
    reason = "transformers' T5 has separate k and v projections and cannot tie them (skv, Mesh TF shared_kv)";
  else if (s.shared_heads)
    reason = "transformers' T5 gives every layer its own attention projections and cannot share them (sh)";
  if (why) *why = reason;
  return reason.empty();
}

Shape load_shape_file(const std::string& path) {
  const json j = read_json_file(path);
  T5_CHECK(j.is_object(), "{}: expected a JSON object, got {}", path, j.type_name());
  if (j.contains("d_model") || j.contains("model_type")) return shape_from_hf_config(j, path);
  return shape_from_json(j, path);
}

}  // namespace t5
