// Pareto frontier of (cost, quality) points (see pareto.h).
#include "results/pareto.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <unordered_map>

#include "results/bootstrap.h"

namespace t5 {

bool dominates(const OperatingPoint& a, const OperatingPoint& b) {
  const bool no_worse = a.cost <= b.cost && a.quality >= b.quality;
  const bool better = a.cost < b.cost || a.quality > b.quality;
  return no_worse && better;
}

bool OperatingPoints::dominated(double cost, double quality) const {
  const OperatingPoint p{cost, quality, {}};
  return std::any_of(points_.begin(), points_.end(), [&](const OperatingPoint& q) { return dominates(q, p); });
}

bool OperatingPoints::add(double cost, double quality, const std::string& id) {
  if (!std::isfinite(cost) || !std::isfinite(quality)) return false;
  if (dominated(cost, quality)) return false;
  const OperatingPoint p{cost, quality, id};
  points_.erase(std::remove_if(points_.begin(), points_.end(), [&](const OperatingPoint& q) { return dominates(p, q); }),
                points_.end());
  const auto order = [](const OperatingPoint& a, const OperatingPoint& b) {
    if (a.cost != b.cost) return a.cost < b.cost;
    if (a.quality != b.quality) return a.quality > b.quality;
    return a.id < b.id;
  };
  points_.insert(std::upper_bound(points_.begin(), points_.end(), p, order), p);
  return true;
}

double OperatingPoints::best_quality(double budget) const {
  double best = -std::numeric_limits<double>::infinity();
  for (const auto& p : points_)
    if (p.cost <= budget) best = std::max(best, p.quality);
  return best;
}

nlohmann::json to_json(const OperatingPoints& frontier) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : frontier.points()) out.push_back({{"id", p.id}, {"cost", p.cost}, {"quality", p.quality}});
  return out;
}

std::vector<double> frontier_probabilities(const std::vector<SeededPoint>& points, const FrontierBootstrap& b) {
  std::vector<double> on(points.size(), 0.0);
  if (b.resamples <= 0) return on;
  std::mt19937_64 rng(b.seed);
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < points.size(); ++i) index.emplace(points[i].id, i);
  for (int round = 0; round < b.resamples; ++round) {
    OperatingPoints frontier;
    for (const SeededPoint& p : points) {
      if (p.qualities.empty()) continue;
      frontier.add(p.cost, resampled_mean(p.qualities, rng), p.id);
    }
    for (const OperatingPoint& p : frontier.points()) on[index.at(p.id)] += 1.0;
  }
  for (double& v : on) v /= double(b.resamples);
  return on;
}

}  // namespace t5
