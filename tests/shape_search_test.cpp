// t5scale shapes (core/shape_search.h): budget queries against counts worked by hand from SPEC §2,
// the enumeration against a brute-force count over the same grid, names that parse back to their
// shapes, bad input, and the command's sweep spec read back by the sweep parser.
#include <cmath>
#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/names.h"
#include "core/shape_search.h"
#include "sweeps/spec.h"
#include "tests/cli_runner.h"

namespace t5 {
namespace {

// t5-efficient-tiny (dm 256, ff 1024, 4 heads of 64, tied, ReLU) = 15,570,688 parameters (counts_test).
// Each nl step adds an encoder layer 4·256·256 + 2·256·1024 + 2·256 = 786,944 and a decoder layer
// 8·256·256 + 2·256·1024 + 3·256 = 1,049,344: 1,836,288 per unit of nl. So tiny-nl6 has
// 15,570,688 + 2·1,836,288 = 19,243,264 and tiny-nl32 15,570,688 + 28·1,836,288 = 66,986,752.
TEST(ShapeSearch, DepthAtAParameterBudgetWorkedByHand) {
  BudgetQuery q;
  q.base = parse_shape_name("tiny");
  q.knobs = {"nl"};
  q.target = 19.0e6;
  q.tolerance = 0.02;  // nl6 is +1.28%; nl4 (-18%) and nl8 (+20%) are out
  std::vector<BudgetMatch> m = shapes_within_budget(q);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].shape.name, "tiny-nl6");
  EXPECT_EQ(m[0].value, 19243264.0);
  EXPECT_NEAR(m[0].relative_error, 19243264.0 / 19.0e6 - 1.0, 1e-15);
  q.target = 66986752.0;
  q.tolerance = 1e-9;
  m = shapes_within_budget(q);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].shape.name, "tiny-nl32");
  q.target = 15570688.0;  // the base itself: no knob differs, the name is the base's
  m = shapes_within_budget(q);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].shape.name, "tiny");
}

// Every grid point within the budget, no other: a plain loop over the same grid counts them.
TEST(ShapeSearch, FindsEveryGridShapeWithinTheBudgetNearestFirst) {
  BudgetQuery q;
  q.base = parse_shape_name("small");
  q.knobs = {"nl", "dm", "ff"};
  q.target = 60e6;
  q.tolerance = 0.05;
  const std::vector<BudgetMatch> m = shapes_within_budget(q);
  size_t expected = 0;
  for (int64_t nl : knob_grid("nl"))
    for (int64_t dm : knob_grid("dm"))
      for (int64_t ff : knob_grid("ff")) {
        Shape s = q.base;
        s.el = s.dl = nl, s.dm = dm, s.ff = ff;
        expected += std::abs(double(count_params(s).total) / 60e6 - 1) <= 0.05;
      }
  EXPECT_GT(expected, 3u);  // the check can fail
  EXPECT_EQ(m.size(), expected);
  for (size_t i = 0; i < m.size(); ++i) {
    EXPECT_LE(std::abs(m[i].relative_error), 0.05) << m[i].shape.name;
    if (i > 0) EXPECT_LE(std::abs(m[i - 1].relative_error), std::abs(m[i].relative_error));
    const Shape back = parse_shape_name(m[i].shape.name);  // the name means the shape
    EXPECT_TRUE(back.same_structure(m[i].shape)) << m[i].shape.name;
    EXPECT_EQ(double(count_params(back).total), m[i].value) << m[i].shape.name;
  }
}

// Every value of every knob's grid, written as the search writes it, parses back to that value (widths
// of 1024 and more are written in full: the grammar reads only whole thousands as multiples of 1024).
TEST(ShapeSearch, EveryGridValueNamesItself) {
  const Shape base = parse_shape_name("small");
  for (const std::string& knob : shape_knobs())
    for (int64_t v : knob_grid(knob)) {
      BudgetQuery q;
      q.base = base;
      q.knobs = {knob};
      Shape want = base;
      if (knob == "nl") want.el = want.dl = v;
      else if (knob == "el") want.el = v;
      else if (knob == "dl") want.dl = v;
      else if (knob == "dm") want.dm = v;
      else if (knob == "ff") want.ff = v;
      else if (knob == "kv") want.kv = v;
      else want.nh = v;
      q.target = double(count_params(want).total);
      q.tolerance = 1e-12;
      bool found = false;
      for (const BudgetMatch& m : shapes_within_budget(q))
        if (m.shape.same_structure(want)) {
          found = true;
          EXPECT_TRUE(parse_shape_name(m.shape.name).same_structure(want)) << m.shape.name;
        }
      EXPECT_TRUE(found) << knob << " " << v;
    }
}

TEST(ShapeSearch, FlopBudgetUsesTrainingFlopsPerStep) {
  BudgetQuery q;
  q.kind = ShapeBudget::flops;
  q.base = parse_shape_name("tiny");
  q.knobs = {"nl"};
  q.lengths = {2, 16, 8};
  const Shape nl2 = parse_shape_name("tiny-nl2");
  q.target = count_flops(nl2, q.lengths).train_per_step;
  q.tolerance = 1e-9;
  const std::vector<BudgetMatch> m = shapes_within_budget(q);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].shape.name, "tiny-nl2");
}

TEST(ShapeSearch, BadQueriesAreErrorsNamingTheProblem) {
  BudgetQuery q;
  q.base = parse_shape_name("small");
  q.target = 60e6;
  q.knobs = {"nl", "el"};
  EXPECT_THROW(shapes_within_budget(q), Error);
  q.knobs = {"dm", "dm"};
  EXPECT_THROW(shapes_within_budget(q), Error);
  q.knobs = {"width"};
  EXPECT_THROW(shapes_within_budget(q), Error);
  q.knobs = {"dm"};
  q.tolerance = 0;
  EXPECT_THROW(shapes_within_budget(q), Error);
  EXPECT_EQ(parse_budget_number("60M", "--params"), 60e6);
  EXPECT_EQ(parse_budget_number("1.5G", "--params"), 1.5e9);
  EXPECT_EQ(parse_budget_number("2e9", "--params"), 2e9);
  EXPECT_EQ(parse_tolerance("5%", "--tolerance"), 0.05);
  EXPECT_EQ(parse_tolerance("0.1", "--tolerance"), 0.1);
  for (const char* bad : {"60X", "-5", "0", "M", "", "1e400"})
    EXPECT_THROW(parse_budget_number(bad, "--params"), Error) << bad;
  for (const char* bad : {"0%", "100%", "5%%", "x"}) EXPECT_THROW(parse_tolerance(bad, "--tolerance"), Error) << bad;
  try {
    parse_budget_number("60X", "--params");
  } catch (const Error& e) {
    EXPECT_EQ(e.message(), "--params: cannot read '60X'");
  }
}

TEST(ShapesCommand, WritesASweepSpecTheSweepParserAccepts) {
  const testing::ScratchDir scratch("t5scale_shapes_cmd");
  const std::string spec = scratch.path("equal-params.json");
  const testing::CommandResult r = testing::t5scale(
      "shapes --params 19M --tolerance 2% --knobs nl --base tiny --batch 4 --inputs-length 64 --targets-length 14 "
      "--spec-out " + spec);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::HasSubstr("+1.28% tiny-nl6 "));
  EXPECT_THAT(r.out, ::testing::HasSubstr("1 shape(s) within 19.00M parameters"));
  const SweepSpec s = load_sweep_spec(spec);
  EXPECT_EQ(s.shapes, std::vector<std::string>{"tiny-nl6"});
  EXPECT_EQ(s.name, "budget-nl");
}

TEST(ShapesCommand, BadInputIsOneLineAndWritesNothing) {
  const testing::ScratchDir scratch("t5scale_shapes_bad");
  const std::string spec = scratch.path("never.json");
  testing::expect_one_line_error(testing::t5scale("shapes --params 60X --knobs nl --spec-out " + spec), "shapes",
                                 "--params: cannot read '60X'");
  testing::expect_one_line_error(testing::t5scale("shapes --params 1 --knobs nl --spec-out " + spec), "shapes",
                                 "no shape within");
  testing::expect_one_line_error(testing::t5scale("shapes --params 60M --flops 1T --knobs nl"), "shapes",
                                 "exactly one of --params and --flops");
  EXPECT_FALSE(std::filesystem::exists(spec));
}

}  // namespace
}  // namespace t5
