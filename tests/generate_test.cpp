// Generation parity (downstream/generate.h) against the PyTorch reference of
// tests/reference/generate_reference.py (fixtures in tests/fixtures/generate: config.json,
// model.safetensors and cases.json per config). For relu_tied (ReLU, tied, dm^-0.5 head scale) and
// gated_untied (gated-GELU, untied lm_head) and six ragged inputs (one is EOS alone): greedy token ids
// equal the float64 reference's greedy decode, and beam search (3 and 4 beams, length penalty 0.6 / 1.0
// / 2.0, early stopping on and off) equals the reference written to transformers' BeamSearchScorer
// semantics; the cached decoder equals the uncached one (Model::logits at every step) token for token
// in every case; the batch size does not change any output. The fixtures were chosen so that every
// deciding comparison has a margin above 2.5e-4 (cases.json: min_margin). Then `t5scale generate` end
// to end: ids in and out, text with a tokenizer, progress, and malformed inputs.
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/checkpoint.h"
#include "core/data/tokenizer.h"
#include "core/error.h"
#include "core/init.h"
#include "core/names.h"
#include "downstream/generate.h"
#include "tests/cli_runner.h"

namespace t5 {
namespace {

using Ids = std::vector<std::vector<int32_t>>;
using testing::CommandResult;
using testing::expect_one_line_error;
using testing::ScratchDir;
using testing::t5scale;

std::string fixture(const std::string& name) {
  return std::string(T5SCALE_SOURCE_DIR) + "/tests/fixtures/generate/" + name;
}

struct GenerateFixture {
  Model model;
  nlohmann::json cases;
  Ids inputs;

  explicit GenerateFixture(const std::string& name)
      : model(resolve_shape(fixture(name) + "/config.json")) {
    load_hf_weights(model, fixture(name) + "/model.safetensors");
    std::ifstream in(fixture(name) + "/cases.json");
    cases = nlohmann::json::parse(in);
    inputs = cases["inputs"].get<Ids>();
  }
};

GenerateOptions options_of(const nlohmann::json& c, int64_t batch) {
  GenerateOptions o;
  o.max_new_tokens = c["max_new_tokens"].get<int64_t>();
  o.num_beams = c["num_beams"].get<int64_t>();
  o.length_penalty = c["length_penalty"].get<double>();
  o.early_stopping = c["early_stopping"].get<bool>();
  o.batch = batch;
  return o;
}

std::string describe(const nlohmann::json& c, int64_t batch) {
  return fmt::format("beams {} length_penalty {} early_stopping {} batch {}", c["num_beams"].get<int64_t>(),
                     c["length_penalty"].get<double>(), c["early_stopping"].get<bool>(), batch);
}

class GenerateParity : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { set_num_threads(1); }
};

TEST_P(GenerateParity, GreedyAndBeamsEqualThePyTorchReference) {
  GenerateFixture f(GetParam());
  ASSERT_EQ(f.cases["cases"].size(), 7u);
  EXPECT_GE(f.cases["min_margin"].get<double>(), 2.5e-4);
  for (const auto& c : f.cases["cases"]) {
    const Ids expected = c["outputs"].get<Ids>();
    for (int64_t batch : {4, 1, 32}) {  // 4: ragged batches of 4 and 2 inputs
      EXPECT_EQ(generate(f.model, f.inputs, options_of(c, batch)), expected) << describe(c, batch);
    }
  }
}

TEST_P(GenerateParity, TwoThreadsSplittingTheRowsGiveTheSameOutputs) {
  // The decoder step splits its rows between the threads (downstream/generate.cpp): 18 inputs in
  // batches of 12 give 12 / 6 rows (x beams), so both threads work and share the scratch buffers.
  GenerateFixture f(GetParam());
  set_num_threads(2);
  Ids inputs;
  for (int r = 0; r < 3; ++r) inputs.insert(inputs.end(), f.inputs.begin(), f.inputs.end());
  for (int k : {0, 1, 3}) {  // greedy, 3 beams, 4 beams
    const nlohmann::json& c = f.cases["cases"][size_t(k)];
    Ids expected;
    for (int r = 0; r < 3; ++r) {
      const Ids once = c["outputs"].get<Ids>();
      expected.insert(expected.end(), once.begin(), once.end());
    }
    EXPECT_EQ(generate(f.model, inputs, options_of(c, 12)), expected) << describe(c, 12);
  }
  set_num_threads(1);
}

TEST_P(GenerateParity, CachedEqualsUncachedTokenForToken) {
  GenerateFixture f(GetParam());
  for (const auto& c : f.cases["cases"]) {
    const GenerateOptions o = options_of(c, 4);
    EXPECT_EQ(generate(f.model, f.inputs, o), generate_uncached(f.model, f.inputs, o)) << describe(c, 4);
  }
}

TEST_P(GenerateParity, FixtureOutputsAreNotTrivial) {
  // The parity above means something only if the outputs vary: EOS at different steps in different
  // rows, rows that reach max_new_tokens, beams that differ from greedy and between the options.
  GenerateFixture f(GetParam());
  const Ids greedy = f.cases["cases"][0]["outputs"].get<Ids>();
  std::set<size_t> eos_steps;
  int without_eos = 0;
  for (const auto& o : greedy) {
    if (!o.empty() && o.back() == kEosId) eos_steps.insert(o.size());
    else ++without_eos;
  }
  EXPECT_GE(eos_steps.size(), 2u);
  EXPECT_GE(without_eos, 1);
  std::set<Ids> distinct;
  for (const auto& c : f.cases["cases"]) distinct.insert(c["outputs"].get<Ids>());
  EXPECT_GE(distinct.size(), 3u);
}

TEST_P(GenerateParity, MaxNewTokensCutsAndOneStepWorks) {
  GenerateFixture f(GetParam());
  GenerateOptions o;
  o.max_new_tokens = 1;
  const Ids one = generate(f.model, f.inputs, o);
  const Ids greedy = f.cases["cases"][0]["outputs"].get<Ids>();
  for (size_t i = 0; i < one.size(); ++i) {
    ASSERT_EQ(one[i].size(), 1u);
    EXPECT_EQ(one[i][0], greedy[i][0]);
  }
  o.ignore_eos = true;  // the benchmark mode: every row runs all steps; up to the first EOS it is greedy
  o.max_new_tokens = 12;
  const Ids all = generate(f.model, f.inputs, o);
  for (size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ(all[i].size(), 12u);
    EXPECT_TRUE(std::equal(greedy[i].begin(), greedy[i].end(), all[i].begin()));
  }
  EXPECT_EQ(all, generate_uncached(f.model, f.inputs, o));
}

TEST_P(GenerateParity, AGeneratorReusedAcrossCallsAndWeightChangesGivesFreshResults) {
  GenerateFixture f(GetParam());
  Generator generator(f.model);
  for (int64_t batch : {4, 2, 6})  // its buffers sized by the first call, grown by the last
    for (const auto& c : f.cases["cases"])
      EXPECT_EQ(generator.generate(f.inputs, options_of(c, batch)), c["outputs"].get<Ids>()) << describe(c, batch);
  // The optimizer changes the weights in place between calls (fine-tuning): the decoder's relative
  // bias table, read once per batch, and a projection.
  const ParamTable& table = f.model.table();
  for (const char* name : {"decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                           "decoder.block.0.layer.0.SelfAttention.q.weight"}) {
    const ParamSpec& p = table.at(name);
    for (int64_t i = 0; i < p.numel; ++i) f.model.params()[p.offset + i] *= -3.0f;
  }
  const GenerateOptions o = options_of(f.cases["cases"][0], 4);
  const Ids changed = generate(f.model, f.inputs, o);
  EXPECT_NE(changed, f.cases["cases"][0]["outputs"].get<Ids>());
  EXPECT_EQ(generator.generate(f.inputs, o), changed);
  EXPECT_EQ(changed, generate_uncached(f.model, f.inputs, o));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GenerateParity, ::testing::Values("relu_tied", "gated_untied"));

TEST(Generate, RejectsBadRequests) {
  GenerateFixture f("relu_tied");
  GenerateOptions o;
  EXPECT_TRUE(generate(f.model, {}, o).empty());
  EXPECT_THROW(generate(f.model, {{5, 1}, {}}, o), Error);
  EXPECT_THROW(generate(f.model, {{5, 96}}, o), Error);  // V = 96
  EXPECT_THROW(generate(f.model, {{5, -1}}, o), Error);
  o.max_new_tokens = 0;
  EXPECT_THROW(generate(f.model, {{5, 1}}, o), Error);
  o = {};
  o.num_beams = 2;
  o.ignore_eos = true;
  EXPECT_THROW(generate(f.model, {{5, 1}}, o), Error);
  o = {};
  o.batch = 0;
  EXPECT_THROW(generate_uncached(f.model, {{5, 1}}, o), Error);
}

// ---------------------------------------------------------------- the command

std::string json_line(const std::vector<int32_t>& ids) { return nlohmann::json{{"input_ids", ids}}.dump(); }

TEST(GenerateCommand, IdsInIdsOutInInputOrderEqualTheReference) {
  ::setenv("OMP_NUM_THREADS", "1", 1);
  ScratchDir dir("t5scale-generate-cmd");
  GenerateFixture f("relu_tied");
  std::string lines;
  for (const auto& x : f.inputs) lines += json_line(x) + "\n";
  const std::string file = dir.write("in.jsonl", lines);
  const std::string model = fmt::format("--model {0}/config.json --weights {0}", fixture("relu_tied"));
  for (const auto& c : f.cases["cases"]) {
    const std::string args =
        fmt::format("generate {} --inputs {} --batch 4 --max-length {} --beam {} --length-penalty {} {} --json", model,
                    file, c["max_new_tokens"].get<int64_t>(), c["num_beams"].get<int64_t>(),
                    c["length_penalty"].get<double>(), c["early_stopping"].get<bool>() ? "--early-stopping" : "");
    const CommandResult r = t5scale(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::istringstream out(r.out);
    Ids got;
    for (std::string line; std::getline(out, line);) {
      const nlohmann::json j = nlohmann::json::parse(line);
      EXPECT_EQ(j.size(), 1u) << line;  // output_ids only: no tokenizer, no text
      got.push_back(j.at("output_ids").get<Ids::value_type>());
    }
    EXPECT_EQ(got, c["outputs"].get<Ids>()) << args;
  }
  // Plain mode: the ids, space-separated, one line per input; progress on stderr with more than a batch.
  const CommandResult r = t5scale(fmt::format("generate {} --inputs {} --batch 2 --max-length 12", model, file));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string expected;
  for (const auto& o : f.cases["cases"][0]["outputs"].get<Ids>()) {
    for (size_t k = 0; k < o.size(); ++k) expected += (k ? " " : "") + std::to_string(o[k]);
    expected += "\n";
  }
  EXPECT_EQ(r.out, expected);
  EXPECT_THAT(r.err, ::testing::HasSubstr("example 6/6"));
  EXPECT_THAT(r.err, ::testing::HasSubstr("examples/s"));
  EXPECT_THAT(r.err, ::testing::HasSubstr("ETA"));
}

TEST(GenerateCommand, TextWithATokenizer) {
  // A model with the test tokenizer's vocabulary (1000 pieces + 100 sentinels, 1152 rows), HF init.
  ::setenv("OMP_NUM_THREADS", "1", 1);
  ScratchDir dir("t5scale-generate-text");
  const std::string spm = std::string(T5SCALE_SOURCE_DIR) + "/tests/fixtures/data/spiece.model";
  const std::string shape = dir.write(
      "shape.json", R"({"el": 1, "dl": 2, "dm": 16, "ff": 32, "kv": 4, "nh": 2, "vocab_size": 1152})");
  const CommandResult init = t5scale(fmt::format("init --model {} --seed 3 --out {}", shape, dir.path("w")));
  ASSERT_EQ(init.exit_code, 0) << init.err;
  const std::vector<std::string> texts = {"Call me Ishmael.", "The whale", "It was the best of times, it was"};
  std::string lines;
  for (const auto& t : texts) lines += nlohmann::json{{"inputs", t}, {"targets", "ignored"}}.dump() + "\n";
  const std::string file = dir.write("in.jsonl", lines);
  const std::string common = fmt::format("generate --model {0}/config.json --weights {0} --tokenizer {1} --max-length 6",
                                         dir.path("w"), spm);
  const CommandResult r = t5scale(common + " --inputs " + file + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;

  // The same in process: T5 tokenization (EOS appended), generate, decode without the final EOS.
  Model model(resolve_shape(dir.path("w") + "/config.json"));
  load_hf_weights(model, dir.path("w") + "/model.safetensors");
  const Tokenizer tok(spm);
  Ids inputs;
  for (const auto& t : texts) {
    inputs.push_back(tok.encode(t));
    inputs.back().push_back(kEosId);
  }
  GenerateOptions o;
  o.max_new_tokens = 6;
  const Ids outputs = generate(model, inputs, o);
  std::istringstream out(r.out);
  std::vector<std::string> got_text;
  size_t i = 0;
  for (std::string line; std::getline(out, line); ++i) {
    const nlohmann::json j = nlohmann::json::parse(line);
    ASSERT_LT(i, outputs.size());
    EXPECT_EQ(j.at("output_ids").get<std::vector<int32_t>>(), outputs[i]);
    std::vector<int32_t> ids = outputs[i];
    if (!ids.empty() && ids.back() == kEosId) ids.pop_back();
    EXPECT_EQ(j.at("text").get<std::string>(), tok.decode(ids));
    got_text.push_back(j.at("text").get<std::string>());
  }
  EXPECT_EQ(i, texts.size());
  // --input: one text, plain output is the text.
  const CommandResult one = t5scale(common + " --input 'The whale'");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(one.out, got_text[1] + "\n");
}

TEST(GenerateCommand, MalformedInputsAreOneLineNamingFileAndLine) {
  ::setenv("OMP_NUM_THREADS", "1", 1);
  ScratchDir dir("t5scale-generate-bad");
  const std::string model = fmt::format("--model {0}/config.json --weights {0}", fixture("relu_tied"));
  const std::string good = json_line({5, 6, 1});
  auto run = [&](const std::string& second_line) {
    const std::string file = dir.write("bad.jsonl", good + "\n" + second_line + "\n" + good + "\n");
    return t5scale(fmt::format("generate {} --inputs {}", model, file));
  };
  const std::string where = dir.path("bad.jsonl") + ":2";
  expect_one_line_error(run("{\"input_ids\": [5, 6"), "generate", where);
  expect_one_line_error(run("[5, 6, 1]"), "generate", where + ": expected an object");
  expect_one_line_error(run("{\"input_ids\": [5, 96]}"), "generate", where + ": input_ids[1] = 96 is outside");
  expect_one_line_error(run("{\"input_ids\": [5, \"x\"]}"), "generate", where + ": input_ids[1] is not an integer");
  expect_one_line_error(run("{\"input_ids\": []}"), "generate", where);
  expect_one_line_error(run("{\"input\": [5]}"), "generate", where + ": unknown key 'input'");
  expect_one_line_error(run("{\"input_ids\": [5], \"inputs\": \"x\"}"), "generate", where + ": give exactly one");
  expect_one_line_error(run("{\"inputs\": \"text\"}"), "generate", where + ": \"inputs\" is text, which needs --tokenizer");
  expect_one_line_error(run(""), "generate", where + ": empty line");
  expect_one_line_error(t5scale(fmt::format("generate {} --inputs {}", model, dir.path("missing.jsonl"))), "generate",
                        "missing.jsonl");
  expect_one_line_error(t5scale(fmt::format("generate {} --input hello", model)), "generate", "needs --tokenizer");
  expect_one_line_error(t5scale(fmt::format("generate {} --inputs {} --beam 0", model, dir.write("ok.jsonl", good))),
                        "generate", "--beam");
  expect_one_line_error(t5scale(fmt::format("generate {}", model)), "generate", "--input");
}

}  // namespace
}  // namespace t5
