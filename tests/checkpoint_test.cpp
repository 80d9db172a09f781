// Hugging Face interchange and training checkpoints: names, shapes and config.json keys checked
// against SPEC.md §5 as written there (a literal list, not the ParamTable), the import aliases and
// stray tensor, every rejection of load_hf_weights, and checkpoint atomicity under SIGKILL.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/init.h"
#include "core/safetensors.h"

namespace t5 {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// el 2, dl 2, dm 16, ff 24, kv 4, nh 3 (inner 12), vocab 40.
Shape tiny_shape(bool gated) {
  Shape s;
  s.el = 2;
  s.dl = 2;
  s.dm = 16;
  s.ff = 24;
  s.kv = 4;
  s.nh = 3;
  s.vocab_size = 40;
  s.feed_forward = gated ? FeedForward::gated_gelu : FeedForward::relu;
  s.tied = !gated;
  return s;
}

// SPEC.md §5 names and [out, in] shapes for tiny_shape(gated = true): gated-GELU, untied.
std::vector<std::pair<std::string, std::vector<int64_t>>> spec_gated_untied_names() {
  const std::vector<int64_t> qkv = {12, 16}, o = {16, 12}, wi = {24, 16}, wo = {16, 24}, norm = {16}, bias = {32, 3};
  std::vector<std::pair<std::string, std::vector<int64_t>>> n = {{"shared.weight", {40, 16}}};
  for (int b = 0; b < 2; ++b) {
    const std::string e = fmt::format("encoder.block.{}.layer.", b);
    for (const char* p : {"q", "k", "v"}) n.push_back({e + "0.SelfAttention." + p + ".weight", qkv});
    n.push_back({e + "0.SelfAttention.o.weight", o});
    if (b == 0) n.push_back({e + "0.SelfAttention.relative_attention_bias.weight", bias});
    n.push_back({e + "0.layer_norm.weight", norm});
    n.push_back({e + "1.DenseReluDense.wi_0.weight", wi});
    n.push_back({e + "1.DenseReluDense.wi_1.weight", wi});
    n.push_back({e + "1.DenseReluDense.wo.weight", wo});
    n.push_back({e + "1.layer_norm.weight", norm});
  }
  n.push_back({"encoder.final_layer_norm.weight", norm});
  for (int b = 0; b < 2; ++b) {
    const std::string d = fmt::format("decoder.block.{}.layer.", b);
    for (const char* p : {"q", "k", "v"}) n.push_back({d + "0.SelfAttention." + p + ".weight", qkv});
    n.push_back({d + "0.SelfAttention.o.weight", o});
    if (b == 0) n.push_back({d + "0.SelfAttention.relative_attention_bias.weight", bias});
    n.push_back({d + "0.layer_norm.weight", norm});
    for (const char* p : {"q", "k", "v"}) n.push_back({d + "1.EncDecAttention." + p + ".weight", qkv});
    n.push_back({d + "1.EncDecAttention.o.weight", o});
    n.push_back({d + "1.layer_norm.weight", norm});
    n.push_back({d + "2.DenseReluDense.wi_0.weight", wi});
    n.push_back({d + "2.DenseReluDense.wi_1.weight", wi});
    n.push_back({d + "2.DenseReluDense.wo.weight", wo});
    n.push_back({d + "2.layer_norm.weight", norm});
  }
  n.push_back({"decoder.final_layer_norm.weight", norm});
  n.push_back({"lm_head.weight", {40, 16}});
  return n;
}

class Checkpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("t5scale_checkpoint_{}_{}", ::testing::UnitTest::GetInstance()->current_test_info()->name(),
                       ::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  static std::vector<float> initialised(const ParamTable& table, uint64_t seed) {
    std::vector<float> p(size_t(table.total()));
    init_params(table, p.data(), seed);
    return p;
  }
  // The error message of load_hf_weights on `file`, or "accepted"; checks params stay untouched.
  static std::string load_error(const ParamTable& table, const std::string& file) {
    std::vector<float> params(size_t(table.total()), 0.25f);
    try {
      load_hf_weights(table, params.data(), file);
    } catch (const Error& e) {
      EXPECT_TRUE(std::all_of(params.begin(), params.end(), [](float x) { return x == 0.25f; }) ||
                  std::string(e.what()).find("differs") != std::string::npos)
          << "a rejected load wrote into the parameters";
      return e.what();
    }
    return "accepted";
  }

  fs::path dir_;
};

TEST_F(Checkpoint, ExportedNamesShapesAndOrderFollowSpec) {
  const ParamTable table(tiny_shape(true));
  const auto params = initialised(table, 1);
  save_hf_model(table, params.data(), path("hf"));
  const auto tensors = read_safetensors(path("hf/model.safetensors"));
  const auto want = spec_gated_untied_names();
  ASSERT_EQ(tensors.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(tensors[i].name, want[i].first) << i;
    EXPECT_EQ(tensors[i].shape, want[i].second) << want[i].first;
    EXPECT_EQ(tensors[i].dtype, "F32");
    const ParamSpec& spec = table.at(want[i].first);
    EXPECT_TRUE(std::equal(tensors[i].data.begin(), tensors[i].data.end(), params.begin() + spec.offset));
  }
}

TEST_F(Checkpoint, TiedExportHasNoLmHead) {
  const ParamTable table(tiny_shape(false));
  save_hf_model(table, initialised(table, 1).data(), path("hf"));
  SafetensorsFile file(path("hf/model.safetensors"));
  EXPECT_EQ(file.find("lm_head.weight"), nullptr);
  ASSERT_NE(file.find("shared.weight"), nullptr);
  ASSERT_NE(file.find("encoder.block.1.layer.1.DenseReluDense.wi.weight"), nullptr);
  EXPECT_EQ(file.find("encoder.block.1.layer.1.DenseReluDense.wi.weight")->shape, (std::vector<int64_t>{24, 16}));
  EXPECT_EQ(file.find("encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight"), nullptr);
  EXPECT_EQ(file.metadata().at("format"), "pt");
}

TEST_F(Checkpoint, ConfigJsonHasTheHfKeys) {
  for (bool gated : {false, true}) {
    const ParamTable table(tiny_shape(gated));
    save_hf_model(table, initialised(table, 1).data(), path("hf"));
    std::ifstream in(path("hf/config.json"));
    const nlohmann::json c = nlohmann::json::parse(in);
    EXPECT_EQ(c.at("d_model"), 16);
    EXPECT_EQ(c.at("d_kv"), 4);
    EXPECT_EQ(c.at("d_ff"), 24);
    EXPECT_EQ(c.at("num_layers"), 2);
    EXPECT_EQ(c.at("num_decoder_layers"), 2);
    EXPECT_EQ(c.at("num_heads"), 3);
    EXPECT_EQ(c.at("relative_attention_num_buckets"), 32);
    EXPECT_EQ(c.at("relative_attention_max_distance"), 128);
    EXPECT_EQ(c.at("vocab_size"), 40);
    EXPECT_EQ(c.at("feed_forward_proj"), gated ? "gated-gelu" : "relu");
    EXPECT_EQ(c.at("tie_word_embeddings"), !gated);
    EXPECT_EQ(c.at("layer_norm_epsilon"), 1e-6);
    EXPECT_EQ(c.at("dropout_rate"), 0.0);
    EXPECT_EQ(c.at("decoder_start_token_id"), 0);
    EXPECT_EQ(c.at("pad_token_id"), 0);
    EXPECT_EQ(c.at("eos_token_id"), 1);
    EXPECT_EQ(c.at("is_encoder_decoder"), true);
    EXPECT_EQ(c.at("model_type"), "t5");
    EXPECT_EQ(c.at("architectures"), nlohmann::json::array({"T5ForConditionalGeneration"}));
  }
}

TEST_F(Checkpoint, HfRoundTripIsExactInF32AndRoundedInBF16) {
  for (bool gated : {false, true}) {
    const ParamTable table(tiny_shape(gated));
    const auto params = initialised(table, 3);
    save_hf_model(table, params.data(), path("f32"));
    std::vector<float> back(params.size(), 0.0f);
    load_hf_weights(table, back.data(), hf_weights_path(path("f32")));
    EXPECT_EQ(back, params);

    save_hf_model(table, params.data(), path("bf16"), "BF16");
    load_hf_weights(table, back.data(), path("bf16/model.safetensors"));
    for (size_t i = 0; i < params.size(); ++i) ASSERT_EQ(back[i], bf16_to_float(float_to_bf16(params[i]))) << i;
  }
}

// A file laid out like transformers' own save of a tied T5 (state_dict order, embed_tokens copies,
// a tied lm_head, the stray cross-attention bias), in BF16.
TEST_F(Checkpoint, LoadsHfStyleFileWithAliasesAndStrayBias) {
  const ParamTable table(tiny_shape(false));
  const auto params = initialised(table, 9);
  std::vector<Tensor> file;
  for (const Tensor& t : tensors_from_buffer(table, params.data(), "BF16")) {
    if (t.name == "shared.weight") {
      for (const char* alias : {"shared.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight"}) {
        file.push_back(t);
        file.back().name = alias;
      }
      continue;
    }
    file.push_back(t);
    if (t.name == "decoder.block.0.layer.1.EncDecAttention.o.weight")
      file.push_back({"decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight", "BF16", {32, 3},
                      std::vector<float>(96, 0.5f)});
  }
  file.push_back(file.front());
  file.back().name = "lm_head.weight";
  write_safetensors(path("hf.safetensors"), file);
  std::vector<float> back(params.size(), 0.0f);
  load_hf_weights(table, back.data(), path("hf.safetensors"));
  for (size_t i = 0; i < params.size(); ++i) ASSERT_EQ(back[i], bf16_to_float(float_to_bf16(params[i]))) << i;
}

TEST_F(Checkpoint, LoadsSharedEmbeddingFromAnAliasAlone) {
  const ParamTable table(tiny_shape(true));
  const auto params = initialised(table, 4);
  auto tensors = tensors_from_buffer(table, params.data());
  tensors[0].name = "decoder.embed_tokens.weight";
  write_safetensors(path("alias.safetensors"), tensors);
  std::vector<float> back(params.size(), 0.0f);
  load_hf_weights(table, back.data(), path("alias.safetensors"));
  EXPECT_EQ(back, params);
}

TEST_F(Checkpoint, RejectsAliasThatDiffersFromShared) {
  const ParamTable table(tiny_shape(false));
  auto tensors = tensors_from_buffer(table, initialised(table, 4).data());
  Tensor alias = tensors[0];
  alias.name = "encoder.embed_tokens.weight";
  alias.data[5] += 1.0f;
  tensors.push_back(alias);
  write_safetensors(path("a.safetensors"), tensors);
  EXPECT_THAT(load_error(table, path("a.safetensors")),
              HasSubstr("tensor 'encoder.embed_tokens.weight' differs from 'shared.weight'"));
}

TEST_F(Checkpoint, RejectsMissingTensor) {
  const ParamTable table(tiny_shape(false));
  auto tensors = tensors_from_buffer(table, initialised(table, 4).data());
  tensors.erase(tensors.begin() + 5);
  write_safetensors(path("m.safetensors"), tensors);
  const std::string e = load_error(table, path("m.safetensors"));
  EXPECT_THAT(e, HasSubstr(path("m.safetensors")));
  EXPECT_THAT(e, HasSubstr("missing tensor '" + table.params()[5].name + "'"));
}

TEST_F(Checkpoint, RejectsMissingSharedEmbedding) {
  const ParamTable table(tiny_shape(true));
  auto tensors = tensors_from_buffer(table, initialised(table, 4).data());
  tensors.erase(tensors.begin());
  write_safetensors(path("m.safetensors"), tensors);
  EXPECT_THAT(load_error(table, path("m.safetensors")), HasSubstr("missing tensor 'shared.weight'"));
}

TEST_F(Checkpoint, RejectsWrongShape) {
  const ParamTable table(tiny_shape(false));
  auto tensors = tensors_from_buffer(table, initialised(table, 4).data());
  Tensor& q = tensors[1];
  ASSERT_EQ(q.name, "encoder.block.0.layer.0.SelfAttention.q.weight");
  q.shape = {16, 12};   // transposed
  write_safetensors(path("s.safetensors"), tensors);
  EXPECT_THAT(load_error(table, path("s.safetensors")),
              HasSubstr("tensor 'encoder.block.0.layer.0.SelfAttention.q.weight' has shape [16, 12], expected [12, 16]"));
}

TEST_F(Checkpoint, RejectsUnexpectedTensor) {
  const ParamTable table(tiny_shape(false));
  auto tensors = tensors_from_buffer(table, initialised(table, 4).data());
  tensors.push_back({"encoder.block.2.layer.0.layer_norm.weight", "F32", {16}, std::vector<float>(16, 1.0f)});
  write_safetensors(path("u.safetensors"), tensors);
  EXPECT_THAT(load_error(table, path("u.safetensors")),
              HasSubstr("unexpected tensor 'encoder.block.2.layer.0.layer_norm.weight'"));
}

TEST_F(Checkpoint, RejectsUntiedWeightsForTiedShape) {
  // An untied model's lm_head differs from shared.weight: loading it as a tied model must fail.
  const ParamTable gated(tiny_shape(true));
  Shape tied_gated = tiny_shape(true);
  tied_gated.tied = true;
  save_hf_model(gated, initialised(gated, 2).data(), path("untied"));
  EXPECT_THAT(load_error(ParamTable(tied_gated), path("untied/model.safetensors")),
              HasSubstr("'lm_head.weight' differs from 'shared.weight'"));
}

TEST_F(Checkpoint, GradientsUseHfNames) {
  const ParamTable table(tiny_shape(false));
  std::vector<float> grads(size_t(table.total()));
  for (size_t i = 0; i < grads.size(); ++i) grads[i] = float(i);
  const auto t = tensors_from_buffer(table, grads.data());
  ASSERT_EQ(t.size(), table.params().size());
  EXPECT_EQ(t[0].name, "shared.weight");
  EXPECT_EQ(t.back().name, "decoder.final_layer_norm.weight");
  EXPECT_EQ(t.back().data.front(), float(table.total() - 16));
}

// --- training checkpoints ---

std::vector<Tensor> optimizer_state(float value) {
  return {{"shared.weight.vr", "F32", {40}, std::vector<float>(40, value)}, {"step", "F32", {1}, {value}}};
}

TEST_F(Checkpoint, TrainingCheckpointRoundTrip) {
  const ParamTable table(tiny_shape(true));
  const auto params = initialised(table, 8);
  const nlohmann::json state = {{"step", 17}, {"rng", {1, 2, 3}}, {"data_position", {{"epoch", 0}, {"offset", 99}}}};
  save_training_checkpoint(path("ck"), table, params.data(), optimizer_state(3.5f), state);
  EXPECT_TRUE(is_training_checkpoint(path("ck")));
  std::vector<float> back(params.size());
  const TrainingCheckpoint ck = load_training_checkpoint(path("ck"), table, back.data());
  EXPECT_EQ(back, params);
  EXPECT_EQ(ck.state, state);
  ASSERT_EQ(ck.optimizer_state.size(), 2u);
  EXPECT_EQ(ck.optimizer_state[0].name, "shared.weight.vr");
  EXPECT_EQ(ck.optimizer_state[1].data, std::vector<float>{3.5f});
  // The model part is a plain HF model directory.
  std::vector<float> hf(params.size());
  load_hf_weights(table, hf.data(), hf_weights_path(path("ck")));
  EXPECT_EQ(hf, params);
}

TEST_F(Checkpoint, OverwriteReplacesWholeAndLeavesNoTemporaries) {
  const ParamTable table(tiny_shape(false));
  save_training_checkpoint(path("ck"), table, initialised(table, 1).data(), optimizer_state(1), {{"step", 1}});
  const auto second = initialised(table, 2);
  save_training_checkpoint(path("ck"), table, second.data(), optimizer_state(2), {{"step", 2}});
  std::vector<float> back(second.size());
  const auto ck = load_training_checkpoint(path("ck"), table, back.data());
  EXPECT_EQ(back, second);
  EXPECT_EQ(ck.state.at("step"), 2);
  std::vector<std::string> entries;
  for (const auto& e : fs::directory_iterator(dir_)) entries.push_back(e.path().filename().string());
  EXPECT_EQ(entries, std::vector<std::string>{"ck"});
  for (const auto& e : fs::directory_iterator(path("ck")))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

TEST_F(Checkpoint, LeftoverTmpIsIgnoredThenCleaned) {
  const ParamTable table(tiny_shape(false));
  const auto params = initialised(table, 1);
  save_training_checkpoint(path("ck"), table, params.data(), optimizer_state(1), {{"step", 1}});
  // A save killed half-way: a partial ck.tmp with a torn weights file.
  fs::create_directories(path("ck.tmp"));
  std::ofstream(path("ck.tmp/model.safetensors")) << "torn";
  std::vector<float> back(params.size());
  EXPECT_EQ(load_training_checkpoint(path("ck"), table, back.data()).state.at("step"), 1);
  EXPECT_EQ(back, params);
  save_training_checkpoint(path("ck"), table, params.data(), optimizer_state(2), {{"step", 2}});
  EXPECT_FALSE(fs::exists(path("ck.tmp")));
  EXPECT_EQ(load_training_checkpoint(path("ck"), table, back.data()).state.at("step"), 2);
}

TEST_F(Checkpoint, RecoversSwapInterruptedBetweenRenames) {
  // The fallback path (no RENAME_EXCHANGE) renames ck to ck.old, then ck.tmp to ck; killed in between.
  const ParamTable table(tiny_shape(false));
  const auto params = initialised(table, 1);
  save_training_checkpoint(path("ck"), table, params.data(), optimizer_state(1), {{"step", 1}});
  fs::rename(path("ck"), path("ck.old"));
  std::vector<float> back(params.size());
  EXPECT_EQ(load_training_checkpoint(path("ck"), table, back.data()).state.at("step"), 1);
  EXPECT_TRUE(fs::exists(path("ck")));
}

TEST_F(Checkpoint, RejectsCheckpointOfAnotherShape) {
  const ParamTable table(tiny_shape(false));
  save_training_checkpoint(path("ck"), table, initialised(table, 1).data(), optimizer_state(1), {{"step", 1}});
  const ParamTable other(tiny_shape(true));
  std::vector<float> back(size_t(other.total()));
  try {
    load_training_checkpoint(path("ck"), other, back.data());
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("config.json: checkpoint is for shape"));
  }
  EXPECT_THROW(load_training_checkpoint(path("nothing"), table, back.data()), Error);
}

// Kills a process that keeps overwriting one checkpoint at random moments; every time, the
// directory must load and be one consistent save (weights, optimizer state and step agree).
TEST_F(Checkpoint, SigkillDuringSaveNeverLeavesATornCheckpoint) {
  Shape s = tiny_shape(false);
  s.vocab_size = 4096;
  s.dm = 64;   // ~1 MB of weights: saves take long enough to be interrupted mid-way
  const ParamTable table(s);
  std::vector<float> back(size_t(table.total()));
  int interrupted_saves = 0;
  for (int round = 0; round < 8; ++round) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      std::vector<float> p(size_t(table.total()));
      for (int step = 1;; ++step) {
        std::fill(p.begin(), p.end(), float(step));
        save_training_checkpoint(path("ck"), table, p.data(), optimizer_state(float(step)), {{"step", step}});
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + 13 * round));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    interrupted_saves += fs::exists(path("ck.tmp"));
    if (!is_training_checkpoint(path("ck")) && !fs::exists(path("ck.old"))) continue;   // killed before the first save
    const TrainingCheckpoint ck = load_training_checkpoint(path("ck"), table, back.data());
    const float step = float(ck.state.at("step").get<int>());
    EXPECT_TRUE(std::all_of(back.begin(), back.end(), [&](float x) { return x == step; })) << "round " << round;
    EXPECT_EQ(ck.optimizer_state[1].data[0], step);
  }
  EXPECT_GT(interrupted_saves, 0) << "no kill landed inside a save; the test proved nothing";
}

}  // namespace
}  // namespace t5
