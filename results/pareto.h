// The Pareto frontier of quality against one cost, after faiss's OperatingPoints
// (faiss/AutoTune.h): a small set of (cost, quality, id) points where insertion keeps only the
// non-dominated ones. Lower cost is better, higher quality is better (quality here is negative
// log-perplexity). A point dominates another when it is no worse in both and better in one; two
// points with equal cost and equal quality dominate neither and both stay on the frontier.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace t5 {

struct OperatingPoint {
  double cost = 0;
  double quality = 0;
  std::string id;
};

class OperatingPoints {
 public:
  // Adds a point; returns true if it is on the frontier afterwards (points it dominates are dropped).
  // Points with a non-finite cost or quality are refused (false).
  bool add(double cost, double quality, const std::string& id);
  // True if some frontier point dominates (cost, quality).
  bool dominated(double cost, double quality) const;
  // The frontier, sorted by cost ascending (ties by quality descending, then id).
  const std::vector<OperatingPoint>& points() const { return points_; }
  // The best quality reachable at cost <= `budget`, or -inf if none.
  double best_quality(double budget) const;

 private:
  std::vector<OperatingPoint> points_;
};

bool dominates(const OperatingPoint& a, const OperatingPoint& b);

nlohmann::json to_json(const OperatingPoints& frontier);

// How sure is a frontier (issue 16)? A shape has one cost and the qualities of its seeds. Each of
// `resamples` bootstrap rounds draws, for every shape, as many seeds as it has, with replacement
// (a fixed-seed generator: the same answer every run), takes their mean as the shape's quality and
// builds the frontier; a shape's probability is the share of rounds it is on it. A shape with one seed
// never varies, but its probability still moves with the others'.
struct SeededPoint {
  double cost = 0;
  std::vector<double> qualities;  // one per seed; empty or non-finite: never on the frontier
  std::string id;
};
struct FrontierBootstrap {
  int resamples = 1000;
  uint64_t seed = 0;
};
std::vector<double> frontier_probabilities(const std::vector<SeededPoint>& points, const FrontierBootstrap& b = {});

}  // namespace t5
