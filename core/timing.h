// Wall-clock helpers shared by the timed measurements (core/ceiling, core/step_bench): a monotonic
// clock in seconds and the median of repeated timings (the figure reported, robust to one slow run).
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

namespace t5 {

inline double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Median of `v` (mean of the two middle values for an even count); 0 for no values.
inline double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace t5
