// Every shipped study spec (sweeps/*.json) parses strictly, expands without skipping a variant,
// keeps its data paths relative to the repository, and is documented in experiments/README.md; the
// structure each study claims (fixed el + dl, the nh·kv diagonal, seeds) holds in its expansion.
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/counts.h"
#include "sweeps/spec.h"

namespace t5 {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kSource = T5SCALE_SOURCE_DIR;

std::map<std::string, SweepSpec> shipped_specs() {
  std::map<std::string, SweepSpec> out;
  for (const auto& entry : fs::directory_iterator(kSource + "/sweeps"))
    if (entry.path().extension() == ".json")
      out[entry.path().stem().string()] = load_sweep_spec(entry.path().string());
  return out;
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(StudySpecs, EveryShippedSpecParsesExpandsAndIsDocumented) {
  const auto specs = shipped_specs();
  // The five studies of issue 5 plus the seeded depth sweep.
  for (const char* name : {"depth-tiny", "depth-seeds-tiny", "split-tiny", "width-tiny", "heads-tiny", "deepnarrow-tiny"})
    EXPECT_TRUE(specs.count(name)) << name;
  const std::string readme = read(kSource + "/experiments/README.md");
  for (const auto& [stem, spec] : specs) {
    SCOPED_TRACE(stem);
    EXPECT_EQ(spec.name, stem) << "results/<name> should match the file name";
    EXPECT_FALSE(spec.question.empty());
    const Expansion e = expand(spec);
    EXPECT_TRUE(e.skipped.empty()) << e.skipped.front().id << ": " << e.skipped.front().reason;
    EXPECT_GE(e.variants.size(), 2u);
    std::set<std::string> ids;
    for (const auto& v : e.variants) {
      EXPECT_TRUE(ids.insert(v.id).second) << v.id;
      // The shared setup of experiments/README.md; the default demo trains longer (documented there).
      EXPECT_EQ(v.steps, stem == "demo-depth-tiny" ? 400 : 200);
      EXPECT_EQ(parse_variant_id(v.id).shape.same_structure(v.shape), true) << v.id;
    }
    EXPECT_TRUE(spec.settings.data.source != "c4" || fs::path(spec.settings.data.corpus).is_relative());
    EXPECT_TRUE(spec.settings.data.source != "c4" || fs::path(spec.settings.data.tokenizer).is_relative());
    EXPECT_THAT(readme, HasSubstr("`sweeps/" + stem + ".json`"));
  }
}

TEST(StudySpecs, SplitKeepsTotalDepthFixed) {
  const Expansion e = expand(load_sweep_spec(kSource + "/sweeps/split-tiny.json"));
  ASSERT_EQ(e.variants.size(), 5u);
  std::set<int64_t> encoder_depths;
  for (const auto& v : e.variants) {
    EXPECT_EQ(v.shape.el + v.shape.dl, 8) << v.id;
    encoder_depths.insert(v.shape.el);
  }
  EXPECT_EQ(encoder_depths, (std::set<int64_t>{1, 2, 4, 6, 7}));
}

TEST(StudySpecs, HeadsDiagonalHasEqualParams) {
  const Expansion e = expand(load_sweep_spec(kSource + "/sweeps/heads-tiny.json"));
  ASSERT_EQ(e.variants.size(), 9u);
  std::set<int64_t> diagonal_params;
  for (const auto& v : e.variants)
    if (v.shape.nh * v.shape.kv == 128) diagonal_params.insert(count_params(v.shape).total - 2 * 32 * v.shape.nh);
  // nh2-kv64, nh4-kv32, nh8-kv16: the same count apart from the two [32, nh] relative-bias tables.
  EXPECT_EQ(diagonal_params.size(), 1u);
}

TEST(StudySpecs, DepthSeedsGroupThreeSeedsPerShape) {
  const Expansion e = expand(load_sweep_spec(kSource + "/sweeps/depth-seeds-tiny.json"));
  std::map<std::string, int> seeds_per_shape;
  for (const auto& v : e.variants) ++seeds_per_shape[v.shape_id];
  ASSERT_EQ(seeds_per_shape.size(), 3u);
  for (const auto& [shape, n] : seeds_per_shape) EXPECT_EQ(n, 3) << shape;
}

TEST(StudySpecs, DeepNarrowIsDeeperAndNarrowerThanItsReference) {
  const Expansion e = expand(load_sweep_spec(kSource + "/sweeps/deepnarrow-tiny.json"));
  std::map<std::string, Shape> by_id;
  for (const auto& v : e.variants) by_id[v.shape_id] = v.shape;
  ASSERT_TRUE(by_id.count("mini") && by_id.count("tiny-nl8"));
  EXPECT_GT(by_id["tiny-nl8"].el, by_id["mini"].el);
  EXPECT_LT(by_id["tiny-nl8"].dm, by_id["mini"].dm);
  EXPECT_LT(count_params(by_id["tiny-nl8"]).total, count_params(by_id["mini"]).total);
}

}  // namespace
}  // namespace t5
