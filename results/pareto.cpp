// Pareto frontier of (cost, quality) points (see pareto.h).
#include "results/pareto.h"

#include <algorithm>
#include <cmath>
#include <limits>

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

}  // namespace t5
