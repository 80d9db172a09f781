// Sweep specs: strict parsing (errors name file and key), grid expansion, ids that parse back to
// their shapes, budgets resolved per shape, impossible shapes skipped with the reason.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/counts.h"
#include "core/describe.h"
#include "core/error.h"
#include "core/names.h"
#include "sweeps/spec.h"
#include "sweeps/trainer_runner.h"
#include "tests/cli_runner.h"

namespace t5 {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

json minimal() {
  return json::parse(R"({
    "name": "depth", "base": "tiny", "grid": {"nl": [2, 4]},
    "budget": {"steps": 10}, "batch": 4, "inputs_length": 64, "targets_length": 14,
    "data": {"source": "synthetic"}})");
}

std::string error_of(const json& j) {
  try {
    parse_sweep_spec(j, "sweeps/x.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(SweepSpec, ParsesMinimalAndDefaults) {
  const SweepSpec s = parse_sweep_spec(minimal(), "sweeps/x.json");
  EXPECT_EQ(s.name, "depth");
  ASSERT_EQ(s.grid.size(), 1u);
  EXPECT_EQ(s.grid[0].key, "nl");
  EXPECT_EQ(s.seeds, std::vector<uint64_t>{0});
  EXPECT_EQ(s.settings.optimizer, "adafactor");
  EXPECT_EQ(s.settings.budget.kind, BudgetKind::steps);
  EXPECT_EQ(s.settings.budget.value, 10);
}

TEST(SweepSpec, PrecisionKeyDefaultsToFp32AndIsRecorded) {
  EXPECT_EQ(parse_sweep_spec(minimal(), "sweeps/x.json").settings.precision, "fp32");
  json j = minimal();
  j["precision"] = "bf16";
  const SweepSpec s = parse_sweep_spec(j, "sweeps/x.json");
  EXPECT_EQ(s.settings.precision, "bf16");
  EXPECT_EQ(to_json(s.settings)["precision"], "bf16");
  j["precision"] = "fp16";
  EXPECT_THAT(error_of(j), HasSubstr("key 'precision': invalid value 'fp16'"));
}

TEST(SweepSpec, PrecisionReachesEveryVariantsTrainer) {
  json j = minimal();
  EXPECT_EQ(train_config(parse_sweep_spec(j, "x.json"), expand(parse_sweep_spec(j, "x.json")).variants.at(0), "c")
                .precision,
            Precision::fp32);
  j["precision"] = "bf16";
  const SweepSpec s = parse_sweep_spec(j, "x.json");
  for (const Variant& v : expand(s).variants) EXPECT_EQ(train_config(s, v, "c").precision, Precision::bf16);
}

TEST(SweepSpec, SpecFileWithAnOverflowingNumberIsOneLineNamingTheFile) {
  testing::ScratchDir dir("t5scale-spec-overflow");
  const std::string path = dir.write("bad.json", R"({"name": "x", "batch": 1e999})");
  try {
    load_sweep_spec(path);
    FAIL() << "accepted a spec with 1e999";
  } catch (const Error& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr(path));
    EXPECT_THAT(std::string(e.what()), HasSubstr("number overflow"));
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
}

TEST(SweepSpec, UnknownKeysNameFileAndKeyPath) {
  json j = minimal();
  j["learning_rate"] = 0.1;
  EXPECT_THAT(error_of(j), HasSubstr("sweeps/x.json: unknown key 'learning_rate'"));
  j = minimal();
  j["grid"]["layers"] = {1};
  EXPECT_THAT(error_of(j), HasSubstr("unknown key 'grid.layers'"));
  j = minimal();
  j["data"]["corpse"] = "x";
  EXPECT_THAT(error_of(j), HasSubstr("unknown key 'data.corpse'"));
  j = minimal();
  j["eval"] = {{"every", 5}, {"size", 3}};
  EXPECT_THAT(error_of(j), HasSubstr("unknown key 'eval.size'"));
}

TEST(SweepSpec, InvalidValuesNameTheKey) {
  json j = minimal();
  j["batch"] = 0;
  EXPECT_THAT(error_of(j), HasSubstr("key 'batch' must be at least 1, got 0"));
  j = minimal();
  j["grid"]["nl"] = {2, "four"};
  EXPECT_THAT(error_of(j), HasSubstr("key 'grid.nl[1]' must be an integer"));
  j = minimal();
  j["grid"]["nl"] = {2, 2};
  EXPECT_THAT(error_of(j), HasSubstr("grid.nl[1]': value 2 is repeated"));
  j = minimal();
  j["optimizer"] = "sgd";
  EXPECT_THAT(error_of(j), HasSubstr("key 'optimizer': invalid value 'sgd'"));
  j = minimal();
  j["budget"] = {{"steps", 10}, {"tokens", 1000}};
  EXPECT_THAT(error_of(j), HasSubstr("exactly one of steps, tokens, flops"));
  j = minimal();
  j["base"] = "huge";
  EXPECT_THAT(error_of(j), HasSubstr("key 'base': shape name 'huge'"));
  j = minimal();
  j["grid"] = {{"nl", {2}}, {"el", {3}}};
  EXPECT_THAT(error_of(j), HasSubstr("'nl' sets el and dl"));
  j = minimal();
  j["shapes"] = {"tiny"};
  EXPECT_THAT(error_of(j), HasSubstr("exactly one of 'grid' and 'shapes'"));
  j = minimal();
  j["data"] = {{"source", "c4"}, {"corpus", "data/demo"}};
  EXPECT_THAT(error_of(j), HasSubstr("missing required key 'data.tokenizer'"));
  j = minimal();
  j["seeds"] = {0, -1};
  EXPECT_THAT(error_of(j), HasSubstr("key 'seeds[1]' must be a non-negative integer"));
  j = minimal();
  j["name"] = "../x";
  EXPECT_THAT(error_of(j), HasSubstr("not usable as a directory name"));
}

TEST(SweepSpec, GridIsCartesianInKnobOrderWithSeedsInnermost) {
  json j = minimal();
  j["base"] = "small";
  j["grid"] = {{"dl", {4, 8}}, {"el", {16, 8}}};   // object order is irrelevant: knob order el, dl
  j["seeds"] = {0, 1};
  const Expansion e = expand(parse_sweep_spec(j, "x.json"));
  std::vector<std::string> ids;
  for (const auto& v : e.variants) ids.push_back(v.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"small-el16-dl4-s0", "small-el16-dl4-s1", "small-el16-dl8-s0",
                                           "small-el16-dl8-s1", "small-el8-dl4-s0", "small-el8-dl4-s1",
                                           "small-el8-dl8-s0", "small-el8-dl8-s1"}));
  EXPECT_TRUE(e.skipped.empty());
  EXPECT_EQ(e.variants[0].shape.el, 16);
  EXPECT_EQ(e.variants[0].shape.dl, 4);
  EXPECT_EQ(e.variants[0].shape.dm, 512);
  EXPECT_EQ(e.variants[0].shape_id, "small-el16-dl4");
  EXPECT_EQ(e.variants[1].seed, 1u);
  EXPECT_EQ(e.variants[0].coordinates, json({{"el", 16}, {"dl", 4}}));
  // Pure: expanding twice gives the same thing.
  const Expansion again = expand(parse_sweep_spec(j, "x.json"));
  ASSERT_EQ(again.variants.size(), e.variants.size());
  for (size_t i = 0; i < e.variants.size(); ++i) EXPECT_EQ(again.variants[i].id, e.variants[i].id);
}

TEST(SweepSpec, IdsParseBackToTheirShapes) {
  json j = minimal();
  j["base"] = "tiny";
  j["grid"] = {{"ff", {512, 2048, 3072}}, {"dm", {1024}}, {"feed_forward_proj", {"relu", "gated-gelu"}},
               {"tie_word_embeddings", {true, false}}};
  const Expansion e = expand(parse_sweep_spec(j, "x.json"));
  ASSERT_EQ(e.variants.size(), 12u);
  EXPECT_EQ(e.variants[0].id, "tiny-dm1000-ff512-relu-tied-s0");
  EXPECT_EQ(e.variants[11].id, "tiny-dm1000-ff3000-gated-untied-s0");
  for (const auto& v : e.variants) {
    const ParsedId back = parse_variant_id(v.id);
    EXPECT_TRUE(back.shape.same_structure(v.shape)) << v.id;
    EXPECT_EQ(back.seed, v.seed);
  }
  EXPECT_EQ(e.variants[11].shape.ff, 3072);
  EXPECT_EQ(e.variants[11].shape.dm, 1024);
  EXPECT_TRUE(e.variants[11].shape.gated());
  EXPECT_FALSE(e.variants[11].shape.tied);
}

// The shape-name flags as boolean axes: true writes sh / skv into the id (which parses back), false
// writes nothing; the FLOPs budget resolves per shape with the flags' counts (skv computes fewer).
TEST(SweepSpec, SharingFlagAxes) {
  json j = minimal();
  j["base"] = "tiny";
  j["grid"] = {{"skv", {false, true}}, {"dl", {2}}, {"sh", {false, true}}, {"tie_word_embeddings", {true, false}}};
  j["budget"] = {{"flops", 1e12}};
  const Expansion e = expand(parse_sweep_spec(j, "x.json"));
  std::vector<std::string> ids;
  for (const auto& v : e.variants) ids.push_back(v.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"tiny-dl2-tied-s0", "tiny-dl2-untied-s0", "tiny-dl2-skv-tied-s0",
                                           "tiny-dl2-skv-untied-s0", "tiny-dl2-sh-tied-s0", "tiny-dl2-sh-untied-s0",
                                           "tiny-dl2-sh-skv-tied-s0", "tiny-dl2-sh-skv-untied-s0"}));
  EXPECT_TRUE(e.skipped.empty());
  for (const auto& v : e.variants) {
    const ParsedId back = parse_variant_id(v.id);
    EXPECT_TRUE(back.shape.same_structure(v.shape)) << v.id;
    EXPECT_EQ(v.shape.shared_kv, v.coordinates["skv"].get<bool>()) << v.id;
    EXPECT_EQ(v.shape.shared_heads, v.coordinates["sh"].get<bool>()) << v.id;
    EXPECT_EQ(v.steps, resolve_steps(parse_sweep_spec(j, "x.json").settings.budget, v.shape,
                                     step_lengths(parse_sweep_spec(j, "x.json").settings))) << v.id;
  }
  EXPECT_GT(e.variants[2].steps, e.variants[0].steps);   // skv: fewer FLOPs a step, more steps for the budget
  EXPECT_EQ(e.variants[4].steps, e.variants[0].steps);   // sh: the same FLOPs
  EXPECT_TRUE(e.variants[7].shape.shared_kv && e.variants[7].shape.shared_heads && !e.variants[7].shape.tied);
  // Values are booleans; a base with the flag cannot be swept to false (a name cannot remove it).
  j["grid"] = {{"skv", {0, 1}}};
  EXPECT_THAT(error_of(j), HasSubstr("key 'grid.skv[0]' must be true or false, got 0"));
  j["grid"] = {{"sh", {false, true}}};
  j["base"] = "tiny-sh";
  const Expansion based = expand(parse_sweep_spec(j, "x.json"));
  ASSERT_EQ(based.variants.size(), 1u);
  EXPECT_EQ(based.variants[0].id, "tiny-sh-sh-s0");
  ASSERT_EQ(based.skipped.size(), 1u);
  EXPECT_THAT(based.skipped[0].reason, HasSubstr("sh = false cannot be written: the base 'tiny-sh' has the flag"));
}

TEST(SweepSpec, ImpossibleShapesAreSkippedWithTheReason) {
  json j = minimal();
  j["grid"] = {{"nl", {0, 2}}, {"ff", {1000, 2048}}};
  const Expansion e = expand(parse_sweep_spec(j, "x.json"));
  ASSERT_EQ(e.variants.size(), 1u);
  EXPECT_EQ(e.variants[0].id, "tiny-nl2-ff2000-s0");   // 2048 is written in thousands, as the paper does
  EXPECT_EQ(e.variants[0].shape.ff, 2048);
  ASSERT_EQ(e.skipped.size(), 3u);
  EXPECT_EQ(e.skipped[0].id, "tiny-nl0-ff1000-s0");
  EXPECT_THAT(e.skipped[0].reason, HasSubstr("nl must be positive, got 0"));
  EXPECT_THAT(e.skipped[2].reason, HasSubstr("ff = 1000 cannot be written"));
}

TEST(SweepSpec, MemoryLimitSkips) {
  json j = minimal();
  j["grid"] = {{"nl", {2, 32}}};
  ExpandOptions opt;
  const Shape nl2 = parse_shape_name("tiny-nl2");
  opt.memory_limit_bytes = estimate_memory(nl2, Lengths{64, 14, 4}).training_total_bytes + 1;
  const Expansion e = expand(parse_sweep_spec(j, "x.json"), opt);
  ASSERT_EQ(e.variants.size(), 1u);
  ASSERT_EQ(e.skipped.size(), 1u);
  // By hand (README "Memory", SPEC §2), tiny at 64 / 14, batch 4, Adafactor: nl2 needs 2 x 4 x 11,898,112
  // (weights, grads) + 4 x 58,240 (state) + 4 x 4 x 1,124,640 (activations) = 113,412,096 B (0.106 GiB);
  // nl32 (N = 66,986,752, SPEC §2) 2 x 4 x 66,986,752 + 4 x 434,560 + 4 x 4 x 10,348,800 = 703,213,056 B
  // (0.655 GiB), where per example an encoder layer keeps 64 x (4*256 + 4*256 + 4*64 + 1024) = 212,992
  // floats, a decoder layer 14 x (6*256 + 6*256 + 4*78 + 1024) + 64*2*256 = 94,480, and embeddings, final
  // norms and probabilities 78*3*256 + 14*32128 = 509,696.
  EXPECT_EQ(opt.memory_limit_bytes, 113412097);
  EXPECT_EQ(e.skipped[0].reason, "training needs about 0.7 GiB, more than the 0.1 GiB available");
}

TEST(SweepSpec, ExplicitShapeListAndDuplicates) {
  json j = minimal();
  j.erase("grid");
  j.erase("base");
  j["shapes"] = {"t5-efficient-small-dl4", "tiny-nl2", "small-dl4", "tiny-xx9"};
  const Expansion e = expand(parse_sweep_spec(j, "x.json"));
  ASSERT_EQ(e.variants.size(), 2u);
  EXPECT_EQ(e.variants[0].id, "small-dl4-s0");
  EXPECT_EQ(e.variants[1].id, "tiny-nl2-s0");
  ASSERT_EQ(e.skipped.size(), 2u);
  EXPECT_EQ(e.skipped[0].reason, "duplicate of an earlier variant");
  EXPECT_THAT(e.skipped[1].reason, HasSubstr("unknown knob 'xx'"));
}

TEST(SweepSpec, BudgetsResolvePerShape) {
  const Shape tiny = parse_shape_name("tiny");
  const Lengths len{64, 14, 4};
  EXPECT_EQ(resolve_steps({BudgetKind::steps, 7}, tiny, len), 7);
  // 4 · (64 + 14) = 312 tokens per step: 3120 tokens buy 10 steps, 3119 buy 9.
  EXPECT_EQ(resolve_steps({BudgetKind::tokens, 3120}, tiny, len), 10);
  EXPECT_EQ(resolve_steps({BudgetKind::tokens, 3119}, tiny, len), 9);
  const double per_step = count_flops(tiny, len).train_per_step;
  EXPECT_EQ(resolve_steps({BudgetKind::flops, 5.5 * per_step}, tiny, len), 5);
  EXPECT_EQ(resolve_steps({BudgetKind::flops, 0.1 * per_step}, tiny, len), 0);
  // A deeper shape gets fewer steps under the same FLOPs budget.
  const Shape deep = parse_shape_name("tiny-nl8");
  EXPECT_LT(resolve_steps({BudgetKind::flops, 100 * per_step}, deep, len), 100);
}

// A FLOPs budget that does not buy one step of a shape skips it (trained for a step it would spend
// more than the budget the sweep compares at): 1.5 steps of tiny-nl2 buy nl2 one step, and nl4's step
// (about twice the cost) none.
TEST(SweepSpec, BudgetBelowOneStepSkipsTheShape) {
  json j = minimal();
  const double nl2_step = count_flops(parse_shape_name("tiny-nl2"), Lengths{64, 14, 4}).train_per_step;
  const double nl4_step = count_flops(parse_shape_name("tiny-nl4"), Lengths{64, 14, 4}).train_per_step;
  ASSERT_GT(nl4_step, 1.5 * nl2_step);
  j["budget"] = {{"flops", 1.5 * nl2_step}};
  const Expansion e = expand(parse_sweep_spec(j, "x.json"));
  ASSERT_EQ(e.variants.size(), 1u);
  EXPECT_EQ(e.variants[0].id, "tiny-nl2-s0");
  EXPECT_EQ(e.variants[0].steps, 1);
  ASSERT_EQ(e.skipped.size(), 1u);
  EXPECT_EQ(e.skipped[0].id, "tiny-nl4-s0");
  EXPECT_EQ(e.skipped[0].reason, fmt::format("the budget of {} flops is less than one training step of this shape ({} flops)",
                                             human_count(1.5 * nl2_step), human_count(nl4_step)));
}

TEST(SweepSpec, ParseVariantId) {
  const ParsedId p = parse_variant_id("t5-efficient-small-el16-dl4-s12");
  EXPECT_EQ(p.seed, 12u);
  EXPECT_EQ(p.shape.el, 16);
  EXPECT_EQ(p.shape.dl, 4);
  EXPECT_FALSE(parse_variant_id("small").seed.has_value());
  EXPECT_THROW(parse_variant_id("small-zz4-s0"), Error);
  const ParsedId skv = parse_variant_id("small-dl4-skv-gated-s3");
  EXPECT_TRUE(skv.shape.shared_kv);
  EXPECT_FALSE(skv.shape.shared_heads);
  EXPECT_TRUE(skv.shape.gated());
  EXPECT_EQ(skv.shape.dl, 4);
  EXPECT_EQ(skv.seed, 3u);
  EXPECT_TRUE(parse_variant_id("base-sh-s0").shape.shared_heads);
  EXPECT_EQ(knob_token("ff", 2048), "ff2000");
  EXPECT_EQ(knob_token("nl", 2000), "nl2000");
  EXPECT_EQ(knob_token("dm", 3000), "");
}

// "vocab_size" gives every variant a tokenizer-sized embedding; ids still name the structure. Tied tiny
// (dm 256) at 8,192 rows instead of 32,128: 23,936 × 256 fewer parameters, FLOPs and steps from the new count.
TEST(SweepSpec, VocabSizeKeySizesEveryVariantsEmbedding) {
  json j = minimal();
  j["vocab_size"] = 8192;
  const SweepSpec spec = parse_sweep_spec(j, "sweeps/x.json");
  EXPECT_EQ(spec.vocab_size, 8192);
  const Expansion e = expand(spec);
  const Expansion plain = expand(parse_sweep_spec(minimal(), "sweeps/x.json"));
  ASSERT_EQ(e.variants.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(e.variants[i].id, plain.variants[i].id);
    EXPECT_EQ(e.variants[i].shape.vocab_size, 8192);
    EXPECT_EQ(count_params(plain.variants[i].shape).total - count_params(e.variants[i].shape).total,
              (32128 - 8192) * 256);
  }
  j["vocab_size"] = 0;
  EXPECT_THAT(error_of(j), HasSubstr("key 'vocab_size' must be at least 1"));
  j["vocab_size"] = "8k";
  EXPECT_THAT(error_of(j), HasSubstr("key 'vocab_size' must be an integer"));
}

}  // namespace
}  // namespace t5
