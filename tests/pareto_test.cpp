// Pareto frontier on hand-made points: one point, dominated points, ties, refusal of NaN.
#include <cmath>

#include <gtest/gtest.h>

#include "results/pareto.h"

namespace t5 {
namespace {

std::vector<std::string> ids(const OperatingPoints& f) {
  std::vector<std::string> out;
  for (const auto& p : f.points()) out.push_back(p.id);
  return out;
}

TEST(Pareto, OnePoint) {
  OperatingPoints f;
  EXPECT_TRUE(f.add(10, -3.0, "a"));
  EXPECT_EQ(ids(f), std::vector<std::string>{"a"});
  EXPECT_EQ(f.best_quality(10), -3.0);
  EXPECT_TRUE(std::isinf(f.best_quality(9)));
}

TEST(Pareto, DominatedPointsAreDroppedAndRefused) {
  OperatingPoints f;
  EXPECT_TRUE(f.add(10, -3.0, "a"));
  EXPECT_TRUE(f.add(20, -2.0, "b"));     // costs more, better: on the frontier
  EXPECT_FALSE(f.add(30, -2.5, "c"));    // costs more than b and is worse: dominated
  EXPECT_FALSE(f.add(10, -3.5, "d"));    // same cost as a, worse
  EXPECT_EQ(ids(f), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(f.add(5, -2.0, "e"));      // cheaper than a and as good as b: drops both
  EXPECT_EQ(ids(f), std::vector<std::string>{"e"});
  EXPECT_TRUE(f.dominated(6, -2.0));
  EXPECT_FALSE(f.dominated(5, -2.0));    // equal is not dominated
}

TEST(Pareto, TiesStayAndOrderIsByCost) {
  OperatingPoints f;
  EXPECT_TRUE(f.add(20, -1.0, "z"));
  EXPECT_TRUE(f.add(10, -2.0, "b"));
  EXPECT_TRUE(f.add(10, -2.0, "a"));     // exact tie with b: both stay
  EXPECT_TRUE(f.add(20, -1.0, "y"));     // exact tie with z
  EXPECT_EQ(ids(f), (std::vector<std::string>{"a", "b", "y", "z"}));
  EXPECT_TRUE(f.add(10, -1.0, "w"));     // same cost as a/b and better; as good as y/z and cheaper
  EXPECT_EQ(ids(f), std::vector<std::string>{"w"});
}

TEST(Pareto, InsertionOrderDoesNotMatter) {
  const std::vector<std::tuple<double, double, std::string>> pts = {
      {1, -5, "p1"}, {2, -4, "p2"}, {3, -4.5, "p3"}, {4, -3, "p4"}, {4, -3.5, "p5"}, {8, -3, "p6"}, {9, -1, "p7"}};
  OperatingPoints forward, backward;
  for (const auto& [c, q, id] : pts) forward.add(c, q, id);
  for (auto it = pts.rbegin(); it != pts.rend(); ++it) backward.add(std::get<0>(*it), std::get<1>(*it), std::get<2>(*it));
  const std::vector<std::string> expected = {"p1", "p2", "p4", "p7"};
  EXPECT_EQ(ids(forward), expected);
  EXPECT_EQ(ids(backward), expected);
  EXPECT_EQ(forward.best_quality(8.5), -3);
}

TEST(Pareto, NonFiniteRefused) {
  OperatingPoints f;
  EXPECT_FALSE(f.add(1, std::nan(""), "nan"));
  EXPECT_FALSE(f.add(INFINITY, -1, "inf"));
  EXPECT_TRUE(f.points().empty());
}

TEST(Pareto, Json) {
  OperatingPoints f;
  f.add(2, -1.5, "x");
  EXPECT_EQ(to_json(f).dump(), R"([{"cost":2.0,"id":"x","quality":-1.5}])");
}


// Worked by hand: A (cost 1, one seed at -5) and B (cost 2, seeds -5.5 and -4.5). A bootstrap round
// draws B's two seeds with replacement: both -4.5 (probability 1/4) gives B a mean of -4.5, on the
// frontier; both -5.5 (1/4) gives -5.5 and mixed (1/2) gives -5.0, equal to A's quality at a higher
// cost: dominated. So P(B) = 1/4 (4,000 rounds: standard error 0.007) and P(A) = 1 (lowest cost).
TEST(FrontierBootstrap, ProbabilityWorkedByHand) {
  const std::vector<SeededPoint> points = {{1.0, {-5.0}, "A"}, {2.0, {-5.5, -4.5}, "B"}};
  const std::vector<double> p = frontier_probabilities(points, {4000, 7});
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0], 1.0);
  EXPECT_NEAR(p[1], 0.25, 0.03);
  EXPECT_EQ(frontier_probabilities(points, {4000, 7}), p);  // a fixed seed: the same answer every run
}

TEST(FrontierBootstrap, SeparatedShapesAreSureAndDominatedOnesNever) {
  // C is worse than B at a higher cost whatever the draw; a shape without finite qualities is never on it.
  const std::vector<SeededPoint> points = {
      {1.0, {-5.0, -5.1}, "A"}, {2.0, {-4.0, -4.2}, "B"}, {3.0, {-4.6, -4.4}, "C"}, {0.5, {}, "D"}};
  const std::vector<double> p = frontier_probabilities(points, {500, 1});
  EXPECT_EQ(p, (std::vector<double>{1.0, 1.0, 0.0, 0.0}));
}

}  // namespace
}  // namespace t5
