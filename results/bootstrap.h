// The seed bootstrap every statistic of the report shares (issue 16): a shape's seeds are redrawn
// with replacement, as many as it has, and their mean taken; an interval is the percentile interval
// of the statistic over the rounds. The frontier probabilities (results/pareto.h), the per-knob Δ
// intervals (results/report.cpp) and the scaling-law fits (results/scaling_fit.h) all draw through
// resampled_mean from a std::mt19937_64 with a fixed seed, so every number is the same on every run.
#pragma once

#include <random>
#include <utility>
#include <vector>

namespace t5 {

// One bootstrap draw of a shape's per-seed values: values.size() draws with replacement, their mean.
// Empty values: NaN (nothing drawn).
double resampled_mean(const std::vector<double>& values, std::mt19937_64& rng);

// The central `level` percentile interval of bootstrap values (sorted in place): the values at ranks
// round((1 − level)/2 · (n − 1)) and round((1 + level)/2 · (n − 1)). Empty: {NaN, NaN}.
std::pair<double, double> percentile_interval(std::vector<double>& values, double level = 0.95);

}  // namespace t5
