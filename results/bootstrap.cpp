// The shared seed bootstrap (see bootstrap.h).
#include "results/bootstrap.h"

#include <algorithm>
#include <cmath>

namespace t5 {

double resampled_mean(const std::vector<double>& values, std::mt19937_64& rng) {
  const size_t n = values.size();
  if (n == 0) return std::nan("");
  std::uniform_int_distribution<size_t> pick(0, n - 1);
  double sum = 0;
  for (size_t k = 0; k < n; ++k) sum += values[pick(rng)];
  return sum / double(n);
}

std::pair<double, double> percentile_interval(std::vector<double>& values, double level) {
  if (values.empty()) return {std::nan(""), std::nan("")};
  std::sort(values.begin(), values.end());
  const double last = double(values.size() - 1);
  const auto at = [&](double q) { return values[size_t(q * last + 0.5)]; };
  return {at((1 - level) / 2), at((1 + level) / 2)};
}

}  // namespace t5
