// The Pareto frontier of quality against one cost, after faiss's OperatingPoints
// (faiss/AutoTune.h): a small set of (cost, quality, id) points where insertion keeps only the
// non-dominated ones. Lower cost is better, higher quality is better (quality here is negative
// log-perplexity). A point dominates another when it is no worse in both and better in one; two
// points with equal cost and equal quality dominate neither and both stay on the frontier.
#pragma once

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

}  // namespace t5
