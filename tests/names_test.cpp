// The shape-name grammar of SPEC.md §1: every knob, thousands as 1024-multiples, the optional prefix,
// left-to-right application, the classic families, and every error path with its message.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/names.h"

namespace t5 {
namespace {

using ::testing::HasSubstr;

// The message of the t5::Error that parsing `name` throws (fails the test if it does not throw).
std::string parse_error(const std::string& name) {
  try {
    parse_shape_name(name);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error for '" << name << "'";
  return "";
}

void expect_dims(const Shape& s, int64_t el, int64_t dl, int64_t dm, int64_t ff, int64_t kv, int64_t nh) {
  EXPECT_EQ(s.el, el) << s.name;
  EXPECT_EQ(s.dl, dl) << s.name;
  EXPECT_EQ(s.dm, dm) << s.name;
  EXPECT_EQ(s.ff, ff) << s.name;
  EXPECT_EQ(s.kv, kv) << s.name;
  EXPECT_EQ(s.nh, nh) << s.name;
}

TEST(Names, StandardSizesMatchSpecTable) {
  // SPEC.md §1 table (kv 64 for tiny/mini/small, not the cards' 32).
  expect_dims(parse_shape_name("tiny"), 4, 4, 256, 1024, 64, 4);
  expect_dims(parse_shape_name("mini"), 4, 4, 384, 1536, 64, 8);
  expect_dims(parse_shape_name("small"), 6, 6, 512, 2048, 64, 8);
  expect_dims(parse_shape_name("base"), 12, 12, 768, 3072, 64, 12);
  expect_dims(parse_shape_name("large"), 24, 24, 1024, 4096, 64, 16);
  expect_dims(parse_shape_name("xl"), 24, 24, 1024, 16384, 128, 32);
  expect_dims(parse_shape_name("xxl"), 24, 24, 1024, 65536, 128, 128);
  const Shape tiny = parse_shape_name("tiny");
  EXPECT_EQ(tiny.vocab_size, 32128);
  EXPECT_EQ(tiny.relative_buckets, 32);
  EXPECT_EQ(tiny.relative_max_distance, 128);
  EXPECT_EQ(tiny.feed_forward, FeedForward::relu);
  EXPECT_TRUE(tiny.tied);
}

TEST(Names, EveryKnob) {
  expect_dims(parse_shape_name("small-el16"), 16, 6, 512, 2048, 64, 8);
  expect_dims(parse_shape_name("small-dl4"), 6, 4, 512, 2048, 64, 8);
  expect_dims(parse_shape_name("small-nl24"), 24, 24, 512, 2048, 64, 8);
  expect_dims(parse_shape_name("small-dm256"), 6, 6, 256, 2048, 64, 8);
  expect_dims(parse_shape_name("small-ff3000"), 6, 6, 512, 3072, 64, 8);
  expect_dims(parse_shape_name("small-kv16"), 6, 6, 512, 2048, 16, 8);
  expect_dims(parse_shape_name("base-nh32"), 12, 12, 768, 3072, 64, 32);
  EXPECT_EQ(parse_shape_name("base-nh32").inner(), 32 * 64);  // inner = nh * kv need not equal dm
}

TEST(Names, ThousandsMeanMultiplesOf1024) {
  const std::pair<const char*, int64_t> ff[] = {{"ff1000", 1024}, {"ff2000", 2048}, {"ff3000", 3072},
                                                {"ff6000", 6144}, {"ff9000", 9216}, {"ff12000", 12288}};
  for (const auto& [knob, value] : ff) EXPECT_EQ(parse_shape_name(std::string("tiny-") + knob).ff, value) << knob;
  EXPECT_EQ(parse_shape_name("small-dm1000").dm, 1024);
  EXPECT_EQ(parse_shape_name("small-dm2000").dm, 2048);
  // Not thousands: taken literally.
  EXPECT_EQ(parse_shape_name("small-ff1500").ff, 1500);
  EXPECT_EQ(parse_shape_name("small-dm768").dm, 768);
  // Depths and heads are counts, never 1024-multiples.
  EXPECT_EQ(parse_shape_name("small-nh1000").nh, 1000);
  EXPECT_EQ(parse_shape_name("small-el1000").el, 1000);
}

TEST(Names, PrefixIsOptional) {
  const Shape a = parse_shape_name("small-el16-dl8");
  const Shape b = parse_shape_name("t5-efficient-small-el16-dl8");
  const Shape c = parse_shape_name("google/t5-efficient-small-el16-dl8");
  EXPECT_TRUE(a.same_structure(b));
  EXPECT_TRUE(a.same_structure(c));
  EXPECT_EQ(b.name, "t5-efficient-small-el16-dl8");  // the name as given
  EXPECT_EQ(short_name(b.name), "small-el16-dl8");
  EXPECT_EQ(short_name("small-dl4"), "small-dl4");
}

TEST(Names, KnobsApplyLeftToRight) {
  expect_dims(parse_shape_name("small-nl8-el2"), 2, 8, 512, 2048, 64, 8);
  expect_dims(parse_shape_name("small-el2-nl8"), 8, 8, 512, 2048, 64, 8);
  expect_dims(parse_shape_name("large-nh8-nl16"), 16, 16, 1024, 4096, 64, 8);
  expect_dims(parse_shape_name("small-dl4-dl2"), 6, 2, 512, 2048, 64, 8);
}

TEST(Names, ClassicFamilies) {
  const Shape t5_small = parse_shape_name("t5-small");
  expect_dims(t5_small, 6, 6, 512, 2048, 64, 8);
  EXPECT_TRUE(t5_small.tied);
  EXPECT_EQ(t5_small.feed_forward, FeedForward::relu);
  expect_dims(parse_shape_name("t5-base"), 12, 12, 768, 3072, 64, 12);
  expect_dims(parse_shape_name("t5-large"), 24, 24, 1024, 4096, 64, 16);
  expect_dims(parse_shape_name("t5-3b"), 24, 24, 1024, 16384, 128, 32);
  expect_dims(parse_shape_name("t5-11b"), 24, 24, 1024, 65536, 128, 128);
  const Shape v11 = parse_shape_name("t5-v1_1-small");
  expect_dims(v11, 8, 8, 512, 1024, 64, 6);
  EXPECT_EQ(v11.feed_forward, FeedForward::gated_gelu);
  EXPECT_FALSE(v11.tied);
  expect_dims(parse_shape_name("t5-v1_1-base"), 12, 12, 768, 2048, 64, 12);
  expect_dims(parse_shape_name("t5-v1_1-large"), 24, 24, 1024, 2816, 64, 16);
  expect_dims(parse_shape_name("google/t5-v1_1-base"), 12, 12, 768, 2048, 64, 12);
  // Knobs apply to classic names too.
  expect_dims(parse_shape_name("t5-small-nl2"), 2, 2, 512, 2048, 64, 8);
}

// The valueless flags of the model cards' table: skv (k and v tied) and sh (attention projections shared
// across a stack's layers); with other knobs, anywhere after the size, "shkv" as the released checkpoints
// spell both. Everything else stays the size's.
TEST(Names, SharingFlags) {
  const Shape skv = parse_shape_name("small-skv");
  expect_dims(skv, 6, 6, 512, 2048, 64, 8);
  EXPECT_TRUE(skv.shared_kv);
  EXPECT_FALSE(skv.shared_heads);
  EXPECT_EQ(skv.name, "small-skv");
  const Shape sh = parse_shape_name("t5-efficient-base-sh");
  expect_dims(sh, 12, 12, 768, 3072, 64, 12);
  EXPECT_TRUE(sh.shared_heads);
  EXPECT_FALSE(sh.shared_kv);
  const Shape dl4 = parse_shape_name("small-dl4-skv");
  expect_dims(dl4, 6, 4, 512, 2048, 64, 8);
  EXPECT_TRUE(dl4.shared_kv);
  EXPECT_TRUE(dl4.same_structure(parse_shape_name("small-skv-dl4")));  // flags commute with knobs
  const Shape both = parse_shape_name("google/t5-efficient-small-shkv");
  EXPECT_TRUE(both.shared_kv && both.shared_heads);
  EXPECT_TRUE(both.same_structure(parse_shape_name("small-sh-skv")));
  EXPECT_TRUE(both.same_structure(parse_shape_name("small-skv-sh-skv")));  // repeating a flag is harmless
  EXPECT_TRUE(parse_shape_name("t5-v1_1-small-skv").shared_kv);           // classic families too
  // Without the flag the shape differs only in it.
  Shape plain = parse_shape_name("small-dl4");
  EXPECT_FALSE(plain.shared_kv || plain.shared_heads);
  EXPECT_FALSE(plain.same_structure(dl4));
  plain.shared_kv = true;
  EXPECT_TRUE(plain.same_structure(dl4));
  EXPECT_EQ(shape_flags(), (std::vector<std::string>{"sh", "skv"}));
}

// Every error path of the grammar: the name and a part of the one-line message it must give.
TEST(Names, ErrorPaths) {
  const std::pair<const char*, const char*> cases[] = {
      // unknown size (the message lists the valid sizes and classic names)
      {"huge-dl4", "unknown size 'huge'"},
      {"huge-dl4", "tiny, mini, small, base, large, xl, xxl"},
      {"huge-dl4", "t5-v1_1-small"},
      {"t5-efficient-", "unknown size ''"},
      {"t5-huge", "unknown model 't5-huge'"},
      {"", "empty shape name"},
      // unknown knob (the message lists the valid knobs)
      {"small-xx4", "unknown knob 'xx' in part 'xx4'"},
      {"small-xx4", "el, dl, nl, dm, ff, kv, nh"},
      {"small-4", "unknown knob '' in part '4'"},
      {"small-DL4", "unknown knob 'DL'"},
      // bad value
      {"small-dl4x", "value '4x' of knob 'dl' is not a whole number"},
      {"small-dl", "knob 'dl' has no value"},
      {"small-ff99999999999999999999", "is not a whole number"},
      {"small-ff9999999999999", "too large"},
      {"small-ff99999999", "larger than t5scale supports"},
      // zero
      {"small-dl0", "knob 'dl' must be positive, got 0"},
      {"small-nh0", "knob 'nh' must be positive"},
      // empty part, trailing dash
      {"small--dl4", "empty part after the size (two '-' in a row)"},
      {"small-dl4-", "empty part after the size (trailing '-')"},
      {"small-", "trailing '-'"},
      {"t5-small-", "trailing '-'"},
      // flags take no value; the hint lists them
      {"small-skv2", "flag 'skv' takes no value, got 'skv2'"},
      {"small-sh4", "flag 'sh' takes no value"},
      {"small-xx4", "flags without a value: sh, skv"},
      {"small-shk", "unknown knob 'shk'"},
      {"skv", "unknown size 'skv'"},
      // the message names the whole name as given
      {"t5-efficient-small-el16-zz8", "shape name 't5-efficient-small-el16-zz8'"},
  };
  for (const auto& [name, message] : cases) EXPECT_THAT(parse_error(name), HasSubstr(message)) << name;
}

}  // namespace
}  // namespace t5
