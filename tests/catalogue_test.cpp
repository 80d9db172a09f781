// The catalogue of released t5-efficient checkpoints: every entry parses, its sweep label says what its
// name changes, the analytic count equals the parameter table for EVERY entry, the filters and the
// quirk; and the card figures of the paper tables behave as pytorch_model.bin sizes (SPEC.md §2).
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/catalogue.h"
#include "core/counts.h"
#include "core/error.h"
#include "core/names.h"
#include "core/param_table.h"
#include "experiments/paper_tables.h"

namespace t5 {
namespace {

using ::testing::HasSubstr;

TEST(Catalogue, SizeAndUniqueNames) {
  // SPEC.md §1: "about 159" released; our reconstruction holds 160 (core/catalogue.cpp says why).
  EXPECT_EQ(catalogue().size(), 160u);
  std::set<std::string> names;
  for (const auto& e : catalogue()) {
    EXPECT_TRUE(names.insert(e.name).second) << "duplicate " << e.name;
    EXPECT_EQ(e.name.rfind("t5-efficient-" + e.size, 0), 0u) << e.name;
    EXPECT_TRUE(parse_shape_name(e.name).same_structure(e.shape)) << e.name;
    EXPECT_EQ(e.shape.name, e.name);
  }
}

TEST(Catalogue, AnalyticCountEqualsParameterTableForEveryEntry) {
  for (const auto& e : catalogue()) {
    const ParamTable table(e.shape);
    const ParamBreakdown p = count_params(e.shape);
    ASSERT_EQ(table.total(), p.total) << e.name;
    EXPECT_EQ(table.count(Component::embedding), p.embedding) << e.name;
    EXPECT_EQ(table.count(Component::encoder_attention) + table.count(Component::encoder_feed_forward) +
                  table.count(Component::encoder_norm),
              p.encoder)
        << e.name;
    EXPECT_EQ(table.count(Component::decoder_self_attention) + table.count(Component::decoder_cross_attention) +
                  table.count(Component::decoder_feed_forward) + table.count(Component::decoder_norm),
              p.decoder)
        << e.name;
    EXPECT_EQ(table.count(Component::relative_bias), p.relative_bias) << e.name;
    EXPECT_EQ(table.count(Component::final_norm), p.final_norms) << e.name;
    EXPECT_EQ(table.count(Component::lm_head), 0) << e.name;  // t5-efficient models are tied
  }
}

// What a sweep label promises: which fields differ from the standard size.
TEST(Catalogue, SweepLabelMatchesWhatTheNameChanges) {
  const std::set<std::string> sweeps(sweep_names().begin(), sweep_names().end());
  for (const auto& e : catalogue()) {
    ASSERT_TRUE(sweeps.count(e.sweep)) << e.name << " " << e.sweep;
    const Shape base = parse_shape_name(e.size);
    const Shape& s = e.shape;
    const bool el = s.el != base.el, dl = s.dl != base.dl, dm = s.dm != base.dm, ff = s.ff != base.ff,
               kv = s.kv != base.kv, nh = s.nh != base.nh;
    const bool width = dm || ff || kv || nh;
    if (e.sweep == "standard") { EXPECT_TRUE(!el && !dl && !width) << e.name; }
    if (e.sweep == "nl") { EXPECT_TRUE(s.el == s.dl && el && !width) << e.name; }
    if (e.sweep == "el") { EXPECT_TRUE(el && !dl && !width) << e.name; }
    if (e.sweep == "dl") { EXPECT_TRUE(!el && dl && !width) << e.name; }
    if (e.sweep == "el-dl") { EXPECT_TRUE(el && dl && !width) << e.name; }
    if (e.sweep == "dm") { EXPECT_TRUE(dm && !el && !dl && !ff && !kv && !nh) << e.name; }
    if (e.sweep == "ff") { EXPECT_TRUE(ff && !el && !dl && !dm && !kv && !nh) << e.name; }
    if (e.sweep == "kv") { EXPECT_TRUE(kv && !el && !dl && !dm && !ff && !nh) << e.name; }
    if (e.sweep == "nh") { EXPECT_TRUE(nh && !el && !dl && !dm && !ff && !kv) << e.name; }
    if (e.sweep == "nh-nl") { EXPECT_TRUE(nh && el && s.el == s.dl && !dm && !ff && !kv) << e.name; }
  }
}

TEST(Catalogue, SpecRanges) {
  // Spot checks of SPEC.md §1's ranges and the names the spec and the issue write out.
  for (const char* name : {"t5-efficient-tiny-nl2", "t5-efficient-tiny-nl32", "t5-efficient-tiny-nh1",
                           "t5-efficient-tiny-nh32", "t5-efficient-mini-nl6", "t5-efficient-mini-nl24",
                           "t5-efficient-small-nl2", "t5-efficient-small-nl48", "t5-efficient-small-el64",
                           "t5-efficient-small-el16-dl8", "t5-efficient-small-dm128", "t5-efficient-small-dm2000",
                           "t5-efficient-small-kv16", "t5-efficient-small-kv256", "t5-efficient-small-dl4",
                           "t5-efficient-base-nl48", "t5-efficient-base-nh8", "t5-efficient-base-nh32",
                           "t5-efficient-large-nl36", "t5-efficient-large-nh2", "t5-efficient-large-nh32",
                           "t5-efficient-large-nh8-nl16", "t5-efficient-xl-nl2", "t5-efficient-xl-nl28",
                           "t5-efficient-xxl-nl4", "t5-efficient-xxl"})
    EXPECT_NE(find_in_catalogue(name), nullptr) << name;
  EXPECT_EQ(find_in_catalogue("t5-efficient-xl-nl32"), nullptr);  // xl's nl sweep stops at 28
  EXPECT_NE(find_in_catalogue("small-dl4"), nullptr);
  EXPECT_NE(find_in_catalogue("google/t5-efficient-small-dl4"), nullptr);
  EXPECT_EQ(find_in_catalogue("small-dl3"), nullptr);
}

TEST(Catalogue, TinyEl12Quirk) {
  const CatalogueEntry* e = find_in_catalogue("t5-efficient-tiny-el12");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->shape.el, 12);
  EXPECT_EQ(e->shape.dl, 4);  // the name's meaning, not the released config.json's 12
  EXPECT_THAT(e->note, HasSubstr("num_decoder_layers 12"));
  int with_notes = 0;
  for (const auto& c : catalogue()) with_notes += !c.note.empty();
  EXPECT_EQ(with_notes, 1);
}

TEST(Catalogue, Filters) {
  EXPECT_EQ(filter_catalogue(std::nullopt, std::nullopt).size(), catalogue().size());
  EXPECT_EQ(filter_catalogue("tiny", std::nullopt).size(), 24u);
  EXPECT_EQ(filter_catalogue("mini", std::nullopt).size(), 5u);
  EXPECT_EQ(filter_catalogue("xxl", std::nullopt).size(), 2u);
  // --knob el: the el sweeps and the el-dl sweep.
  const auto small_el = filter_catalogue("small", "el");
  EXPECT_EQ(small_el.size(), 8u + 7u);
  for (const auto& e : small_el) EXPECT_TRUE(e.sweep == "el" || e.sweep == "el-dl") << e.name;
  EXPECT_EQ(filter_catalogue("small", "el-dl").size(), 7u);
  EXPECT_EQ(filter_catalogue(std::nullopt, "standard").size(), 7u);
  EXPECT_EQ(filter_catalogue("large", "nh").size(), 6u + 2u);  // nh sweep + nh-nl
  EXPECT_EQ(filter_catalogue("xl", "ff").size(), 0u);
}

TEST(Catalogue, FilterErrors) {
  try {
    filter_catalogue("huge", std::nullopt);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("--size: unknown size 'huge'"));
    EXPECT_THAT(e.what(), HasSubstr("tiny, mini, small, base, large, xl, xxl"));
  }
  try {
    filter_catalogue(std::nullopt, "zz");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("--knob: unknown knob 'zz'"));
    EXPECT_THAT(e.what(), HasSubstr("el, dl, nl, dm, ff, kv, nh"));
  }
  // An empty choice is an unknown one, not "any".
  EXPECT_THROW(filter_catalogue("", std::nullopt), Error);
  EXPECT_THROW(filter_catalogue(std::nullopt, ""), Error);
}

// The cards' "#params" = pytorch_model.bin bytes / 4e6 (SPEC.md §2): 4 bytes per parameter plus the
// file's overhead, which grows with the number of tensors (about 0.5 kB each). A figure that were a
// plain count, or a typo, would fall outside this band.
TEST(CardFigures, BehaveAsFileSizes) {
  for (const auto& c : card_figures()) {
    const Shape s = parse_shape_name(c.name);
    const double exact = double(count_params(s).total);
    const double tensors = double(ParamTable(s).params().size());
    const double overhead_bytes = c.millions * 4e6 - 4 * exact;
    // The card rounds to 0.01M = 40 kB of file: allow that either side of 0..1 kB per tensor.
    EXPECT_GT(overhead_bytes, -20e3) << c.name;
    EXPECT_LT(overhead_bytes, 1000 * tensors + 20e3) << c.name;
    EXPECT_FALSE(c.source.empty()) << c.name;
    EXPECT_NE(find_in_catalogue(c.name), nullptr) << c.name;
  }
  EXPECT_FALSE(card_figure("t5-efficient-xl").has_value());  // not sourced: shown as '-', never invented
  EXPECT_DOUBLE_EQ(card_figure("small-dl4")->millions, 52.13);
  EXPECT_DOUBLE_EQ(card_figure("t5-efficient-tiny-nl32")->millions, 67.06);
}

TEST(PaperTables, DeepNarrowComparisons) {
  const nlohmann::json t = paper_tables({512, 114, 128});
  ASSERT_EQ(t["deep_narrow"].size(), 5u);
  const char* expected[][2] = {{"t5-efficient-small-nl16", "t5-efficient-base"},
                               {"t5-efficient-small-nl24", "t5-efficient-base"},
                               {"t5-efficient-base-nl36", "t5-efficient-large"},
                               {"t5-efficient-large-nl36", "t5-efficient-xl"},
                               {"t5-efficient-xl-nl32", "t5-efficient-xxl"}};
  for (size_t i = 0; i < 5; ++i) {
    const auto& r = t["deep_narrow"][i];
    EXPECT_EQ(r["deep"]["name"], expected[i][0]);
    EXPECT_EQ(r["reference"]["name"], expected[i][1]);
    const Shape deep = parse_shape_name(expected[i][0]), ref = parse_shape_name(expected[i][1]);
    EXPECT_DOUBLE_EQ(r["params_ratio"].get<double>(),
                     double(count_params(deep).total) / double(count_params(ref).total));
    EXPECT_DOUBLE_EQ(r["flops_ratio"].get<double>(), count_flops(deep, {512, 114, 128}).forward_per_example /
                                                         count_flops(ref, {512, 114, 128}).forward_per_example);
    EXPECT_LT(r["params_ratio"].get<double>(), 1.0);  // every deep-narrow shape is the smaller one
  }
  EXPECT_TRUE(t["deep_narrow"][0]["deep"]["released"].get<bool>());
  EXPECT_FALSE(t["deep_narrow"][4]["deep"]["released"].get<bool>());  // xl-nl32 was not released
  // small-nl16 by hand: 16 encoder and 16 decoder blocks of Small.
  //   encoder block 4*512*512 + 2*512*2048 + 2*512 = 3,146,752; decoder 8*512^2 + 2*512*2048 + 3*512 = 4,195,840
  //   16 * (3,146,752 + 4,195,840) + 32128*512 + 2*32*8 + 2*512 = 117,481,472 + 16,449,536 + 512 + 1024
  //   = 133,932,544
  EXPECT_EQ(t["deep_narrow"][0]["deep"]["params"], 133932544);
}

TEST(PaperTables, StandardSizesAndSweeps) {
  const nlohmann::json t = paper_tables({512, 114, 128});
  ASSERT_EQ(t["standard_sizes"].size(), 7u);
  EXPECT_EQ(t["standard_sizes"][3]["size"], "base");
  EXPECT_EQ(t["standard_sizes"][3]["params"], 222903552);
  EXPECT_EQ(t["standard_sizes"][3]["card_params_millions"], 222.93);
  EXPECT_FALSE(t["standard_sizes"][5].contains("card_params_millions"));  // xl: not sourced
  size_t listed = 0;
  for (const auto& g : t["released_variants"]) listed += g["checkpoints"].size();
  EXPECT_EQ(listed, catalogue().size());
}

}  // namespace
}  // namespace t5
