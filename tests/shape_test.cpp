// Strict shape JSON and Hugging Face config.json (SPEC.md §5): every rejection names the key, and
// both forms round-trip. The config.json text below is the released t5-efficient-tiny-el12 one
// (huggingface.co/google/t5-efficient-tiny-el12, keys and values as published).
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/names.h"
#include "core/shape.h"

namespace t5 {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

const char* kTinyEl12Config = R"({
  "_name_or_path": "t5-efficient-tiny-el12", "architectures": ["T5ForConditionalGeneration"],
  "d_ff": 1024, "d_kv": 64, "d_model": 256, "decoder_start_token_id": 0, "dropout_rate": 0.1,
  "eos_token_id": 1, "feed_forward_proj": "relu", "initializer_factor": 1.0, "is_encoder_decoder": true,
  "layer_norm_epsilon": 1e-06, "model_type": "t5", "n_positions": 512, "num_decoder_layers": 12,
  "num_heads": 4, "num_layers": 12, "pad_token_id": 0, "relative_attention_num_buckets": 32,
  "torch_dtype": "float32", "transformers_version": "4.17.0.dev0", "use_cache": true, "vocab_size": 32128})";

json small_json() { return json{{"el", 6}, {"dl", 4}, {"dm", 512}, {"ff", 2048}, {"kv", 64}, {"nh", 8}}; }

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(ShapeJson, ReadsMinimalAndDefaults) {
  const Shape s = shape_from_json(small_json(), "s.json");
  EXPECT_TRUE(s.same_structure(parse_shape_name("small-dl4")));
  json nl = {{"nl", 3}, {"dm", 8}, {"ff", 16}, {"kv", 2}, {"nh", 2}, {"vocab_size", 10}};
  const Shape t = shape_from_json(nl, "t.json");
  EXPECT_EQ(t.el, 3);
  EXPECT_EQ(t.dl, 3);
  EXPECT_EQ(t.vocab_size, 10);
}

TEST(ShapeJson, RoundTrip) {
  Shape s = parse_shape_name("t5-v1_1-small-dl2");
  s.dropout = 0.1;
  const Shape back = shape_from_json(shape_to_json(s), "x");
  EXPECT_TRUE(back.same_structure(s));
  EXPECT_EQ(back.name, s.name);
}

// "shared_kv" / "shared_heads" (skv / sh): optional booleans, written only when set, in both JSON forms;
// transformers' T5 cannot express either (hf_exportable says why).
TEST(ShapeJson, SharingFlags) {
  const Shape plain = parse_shape_name("small-dl4");
  EXPECT_FALSE(shape_to_json(plain).contains("shared_kv"));
  EXPECT_FALSE(shape_to_json(plain).contains("shared_heads"));
  EXPECT_FALSE(shape_to_hf_config(plain).contains("shared_kv"));
  EXPECT_TRUE(hf_exportable(plain));
  for (const char* name : {"small-dl4-skv", "base-sh", "tiny-sh-skv"}) {
    const Shape s = parse_shape_name(name);
    const json j = shape_to_json(s);
    EXPECT_EQ(j.contains("shared_kv"), s.shared_kv) << name;
    EXPECT_EQ(j.contains("shared_heads"), s.shared_heads) << name;
    EXPECT_TRUE(shape_from_json(j, "s.json").same_structure(s)) << name;
    const json hf = shape_to_hf_config(s);
    EXPECT_EQ(hf.value("shared_kv", false), s.shared_kv) << name;
    EXPECT_EQ(hf.value("shared_heads", false), s.shared_heads) << name;
    EXPECT_TRUE(shape_from_hf_config(hf, "config.json").same_structure(s)) << name;
    std::string why;
    EXPECT_FALSE(hf_exportable(s, &why)) << name;
    EXPECT_THAT(why, HasSubstr(s.shared_kv ? "cannot tie them (skv" : "cannot share them (sh)")) << name;
  }
  json j = small_json();
  j["shared_kv"] = true;
  EXPECT_TRUE(shape_from_json(j, "s.json").same_structure(parse_shape_name("small-dl4-skv")));
  j["shared_kv"] = false;
  EXPECT_TRUE(shape_from_json(j, "s.json").same_structure(plain));
  j["shared_kv"] = 1;
  EXPECT_THAT(error_of([&] { shape_from_json(j, "s.json"); }),
              HasSubstr("s.json: key 'shared_kv' must be true or false, got 1"));
  j = small_json();
  j["shared_heads"] = "yes";
  EXPECT_THAT(error_of([&] { shape_from_json(j, "s.json"); }), HasSubstr("key 'shared_heads' must be true or false"));
  j = small_json();
  j["shared_k"] = true;
  EXPECT_THAT(error_of([&] { shape_from_json(j, "s.json"); }), HasSubstr("unknown key 'shared_k'"));
  json hf = json::parse(kTinyEl12Config);
  hf["shared_heads"] = 0;
  EXPECT_THAT(error_of([&] { shape_from_hf_config(hf, "config.json"); }),
              HasSubstr("config.json: key 'shared_heads' must be true or false, got 0"));
}

TEST(ShapeJson, UnknownKey) {
  json j = small_json();
  j["d_model"] = 512;
  const std::string m = error_of([&] { shape_from_json(j, "s.json"); });
  EXPECT_THAT(m, HasSubstr("s.json: unknown key 'd_model'"));
  EXPECT_THAT(m, HasSubstr("valid keys:"));
}

TEST(ShapeJson, MissingKey) {
  json j = small_json();
  j.erase("ff");
  EXPECT_THAT(error_of([&] { shape_from_json(j, "s.json"); }), HasSubstr("s.json: missing required key 'ff'"));
  j = small_json();
  j.erase("dl");
  EXPECT_THAT(error_of([&] { shape_from_json(j, "s.json"); }), HasSubstr("missing required key 'dl'"));
}

TEST(ShapeJson, WrongType) {
  json j = small_json();
  j["dm"] = "512";
  EXPECT_THAT(error_of([&] { shape_from_json(j, "s.json"); }), HasSubstr("key 'dm' must be an integer, got \"512\""));
  j = small_json();
  j["dm"] = 512.5;
  EXPECT_THAT(error_of([&] { shape_from_json(j, "s.json"); }), HasSubstr("key 'dm' must be an integer"));
  j = small_json();
  j["tie_word_embeddings"] = 1;
  EXPECT_THAT(error_of([&] { shape_from_json(j, "s.json"); }), HasSubstr("'tie_word_embeddings' must be true or false"));
  j = small_json();
  j["feed_forward_proj"] = "swish";
  EXPECT_THAT(error_of([&] { shape_from_json(j, "s.json"); }), HasSubstr("unknown feed-forward kind 'swish'"));
  EXPECT_THAT(error_of([&] { shape_from_json(json::array(), "s.json"); }), HasSubstr("expected a JSON object"));
}

TEST(ShapeJson, ZeroAndNegativeSizes) {
  for (const char* key : {"el", "dl", "dm", "ff", "kv", "nh"}) {
    json j = small_json();
    j[key] = 0;
    EXPECT_THAT(error_of([&] { shape_from_json(j, "s.json"); }),
                HasSubstr(fmt::format("s.json: key '{}' must be a positive integer, got 0", key)));
    j[key] = -3;
    EXPECT_THAT(error_of([&] { shape_from_json(j, "s.json"); }), HasSubstr(fmt::format("key '{}'", key)));
  }
  json j = small_json();
  j["vocab_size"] = 0;
  EXPECT_THAT(error_of([&] { shape_from_json(j, "s.json"); }), HasSubstr("key 'vocab_size' must be a positive"));
  j = small_json();
  j["dropout_rate"] = 1.0;
  EXPECT_THAT(error_of([&] { shape_from_json(j, "s.json"); }), HasSubstr("dropout_rate must be in [0, 1)"));
  j = small_json();
  j["relative_buckets"] = 7;
  EXPECT_THAT(error_of([&] { shape_from_json(j, "s.json"); }), HasSubstr("relative_buckets must be even"));
  j = small_json();
  j["relative_max_distance"] = 16;
  EXPECT_THAT(error_of([&] { shape_from_json(j, "s.json"); }), HasSubstr("relative_max_distance must exceed"));
  j = small_json();
  j["nl"] = 4;
  EXPECT_THAT(error_of([&] { shape_from_json(j, "s.json"); }), HasSubstr("give either nl or el/dl"));
}

TEST(HfConfig, ReadsReleasedConfigAsPublished) {
  const Shape s = shape_from_hf_config(json::parse(kTinyEl12Config), "config.json");
  // The published file says 12 decoder layers although the name means dl 4 (SPEC.md §1 quirk):
  // reading a config.json reports what the file says.
  EXPECT_EQ(s.el, 12);
  EXPECT_EQ(s.dl, 12);
  EXPECT_EQ(s.dm, 256);
  EXPECT_EQ(s.kv, 64);
  EXPECT_EQ(s.relative_max_distance, 128);  // absent from the file: HF's default
  EXPECT_EQ(s.name, "t5-efficient-tiny-el12");
  EXPECT_EQ(parse_shape_name(s.name).dl, 4);  // the name's meaning
}

TEST(HfConfig, RoundTripAndExportKeys) {
  for (const char* name : {"t5-efficient-small-el16-dl8", "t5-v1_1-base", "t5-small"}) {
    const Shape s = parse_shape_name(name);
    const json j = shape_to_hf_config(s);
    for (const char* key : {"d_model", "d_kv", "d_ff", "num_layers", "num_decoder_layers", "num_heads",
                            "relative_attention_num_buckets", "relative_attention_max_distance", "vocab_size",
                            "feed_forward_proj", "tie_word_embeddings", "layer_norm_epsilon", "dropout_rate",
                            "decoder_start_token_id", "pad_token_id", "eos_token_id", "is_encoder_decoder",
                            "model_type", "architectures"})
      EXPECT_TRUE(j.contains(key)) << name << " " << key;
    EXPECT_EQ(j["model_type"], "t5");
    EXPECT_EQ(j["eos_token_id"], 1);
    const Shape back = shape_from_hf_config(j, "config.json");
    EXPECT_TRUE(back.same_structure(s)) << name;
    EXPECT_EQ(back.name, s.name);
  }
  EXPECT_EQ(shape_to_hf_config(parse_shape_name("t5-v1_1-base"))["feed_forward_proj"], "gated-gelu");
}

TEST(HfConfig, Rejections) {
  json j = json::parse(kTinyEl12Config);
  j["hidden_size"] = 256;
  EXPECT_THAT(error_of([&] { shape_from_hf_config(j, "config.json"); }),
              HasSubstr("config.json: unknown key 'hidden_size'"));
  j = json::parse(kTinyEl12Config);
  j.erase("d_model");
  EXPECT_THAT(error_of([&] { shape_from_hf_config(j, "config.json"); }), HasSubstr("missing required key 'd_model'"));
  j = json::parse(kTinyEl12Config);
  j["d_model"] = 0;
  EXPECT_THAT(error_of([&] { shape_from_hf_config(j, "config.json"); }),
              HasSubstr("key 'd_model' must be a positive integer, got 0"));
  j = json::parse(kTinyEl12Config);
  j["num_heads"] = -4;
  EXPECT_THAT(error_of([&] { shape_from_hf_config(j, "config.json"); }), HasSubstr("key 'num_heads'"));
  j = json::parse(kTinyEl12Config);
  j["d_ff"] = "1024";
  EXPECT_THAT(error_of([&] { shape_from_hf_config(j, "config.json"); }), HasSubstr("key 'd_ff' must be an integer"));
  j = json::parse(kTinyEl12Config);
  j["feed_forward_proj"] = "gated-silu";
  EXPECT_THAT(error_of([&] { shape_from_hf_config(j, "config.json"); }),
              HasSubstr("key 'feed_forward_proj': unknown feed-forward kind 'gated-silu'"));
  j = json::parse(kTinyEl12Config);
  j["num_decoder_layers"] = nullptr;  // HF: null means "same as num_layers"
  EXPECT_EQ(shape_from_hf_config(j, "config.json").dl, 12);
}

TEST(ShapeFiles, LoadAndResolve) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / fmt::format("t5scale_shape_test_{}", ::getpid());
  fs::create_directories(dir / "ckpt");
  std::ofstream(dir / "ckpt" / "config.json") << kTinyEl12Config;
  std::ofstream(dir / "ours.json") << small_json().dump();
  std::ofstream(dir / "broken.json") << "{\"el\": ";
  EXPECT_EQ(resolve_shape((dir / "ckpt").string()).dl, 12);                  // checkpoint directory
  EXPECT_EQ(resolve_shape((dir / "ckpt" / "config.json").string()).el, 12);  // HF config.json
  const Shape ours = resolve_shape((dir / "ours.json").string());
  EXPECT_EQ(ours.dl, 4);
  EXPECT_EQ(ours.name, "ours");  // no name in the file: the file's stem
  EXPECT_THAT(error_of([&] { resolve_shape((dir / "broken.json").string()); }), HasSubstr("invalid JSON"));
  EXPECT_THAT(error_of([&] { resolve_shape((dir / "missing.json").string()); }), HasSubstr("cannot open"));
  EXPECT_THAT(error_of([&] { resolve_shape(dir.string()); }), HasSubstr("directory has no config.json"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace t5
