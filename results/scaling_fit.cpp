// Scaling-law fits of held-out loss (see scaling_fit.h).
#include "results/scaling_fit.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include <fmt/format.h>

#include "core/counts.h"
#include "core/describe.h"
#include "core/error.h"
#include "core/shape.h"
#include "results/bootstrap.h"
#include "results/report.h"

namespace t5 {

using nlohmann::json;
using nlohmann::ordered_json;

double huber(double r, double delta) {
  const double a = std::fabs(r);
  return a <= delta ? 0.5 * r * r : delta * (a - 0.5 * delta);
}

double huber_derivative(double r, double delta) {
  return std::fabs(r) <= delta ? r : (r > 0 ? delta : -delta);
}

// ---- L-BFGS ------------------------------------------------------------------------------------------

namespace {
double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}
double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}
}  // namespace

LbfgsResult minimize_lbfgs(const Objective& f, std::vector<double> x, const LbfgsOptions& o) {
  const size_t n = x.size();
  std::vector<double> g(n), g_new(n), x_new(n), d(n);
  double fx = f(x, g);
  LbfgsResult out;
  struct Pair {
    std::vector<double> s, y;
    double rho;
  };
  std::deque<Pair> memory;
  int small_steps = 0;
  const auto finish = [&](bool converged, std::string why) {
    out.x = x;
    out.value = fx;
    out.converged = converged;
    out.stop = std::move(why);
    return out;
  };
  if (!std::isfinite(fx)) return finish(false, "the objective is not finite at the start");
  for (out.iterations = 0; out.iterations < o.max_iterations; ++out.iterations) {
    if (max_abs(g) <= o.gradient_tolerance) return finish(true, "gradient below tolerance");
    // Two-loop recursion: d = −H g (Nocedal & Wright algorithm 7.4), H0 = γI with γ = sᵀy / yᵀy.
    d = g;
    std::vector<double> alpha(memory.size());
    for (size_t k = memory.size(); k-- > 0;) {
      alpha[k] = memory[k].rho * dot(memory[k].s, d);
      for (size_t i = 0; i < n; ++i) d[i] -= alpha[k] * memory[k].y[i];
    }
    const double gamma = memory.empty() ? 1.0 / std::max(1.0, std::sqrt(dot(g, g)))
                                        : dot(memory.back().s, memory.back().y) / dot(memory.back().y, memory.back().y);
    for (double& v : d) v *= gamma;
    for (size_t k = 0; k < memory.size(); ++k) {
      const double beta = memory[k].rho * dot(memory[k].y, d);
      for (size_t i = 0; i < n; ++i) d[i] += (alpha[k] - beta) * memory[k].s[i];
    }
    for (double& v : d) v = -v;
    double slope = dot(g, d);
    if (!(slope < 0)) {  // not a descent direction (curvature pairs gone stale): steepest descent
      memory.clear();
      const double scale = 1.0 / std::max(1.0, std::sqrt(dot(g, g)));
      for (size_t i = 0; i < n; ++i) d[i] = -g[i] * scale;
      slope = dot(g, d);
    }
    // Backtracking line search to the Armijo condition f(x + t d) <= f(x) + 1e-4 t gᵀd.
    double t = 1, f_new = 0;
    bool found = false;
    for (int tries = 0; tries < 60; ++tries, t *= 0.5) {
      for (size_t i = 0; i < n; ++i) x_new[i] = x[i] + t * d[i];
      f_new = f(x_new, g_new);
      if (std::isfinite(f_new) && f_new <= fx + 1e-4 * t * slope) {
        found = true;
        break;
      }
    }
    if (!found) {
      if (!memory.empty()) {  // retry once from steepest descent before giving up
        memory.clear();
        continue;
      }
      // No decrease along the steepest descent either: f is flat to rounding here.
      return finish(max_abs(g) <= 1e-5, "no decrease along the steepest descent (flat to rounding)");
    }
    Pair p{std::vector<double>(n), std::vector<double>(n), 0};
    for (size_t i = 0; i < n; ++i) p.s[i] = x_new[i] - x[i], p.y[i] = g_new[i] - g[i];
    const double sy = dot(p.s, p.y);
    if (sy > 1e-16 * std::sqrt(dot(p.s, p.s) * dot(p.y, p.y))) {  // keeps H positive definite
      p.rho = 1.0 / sy;
      memory.push_back(std::move(p));
      if (int(memory.size()) > o.memory) memory.pop_front();
    }
    const double decrease = fx - f_new;
    x.swap(x_new);
    g.swap(g_new);
    fx = f_new;
    small_steps = decrease <= o.relative_tolerance * std::max(std::fabs(fx), 1.0) ? small_steps + 1 : 0;
    if (small_steps >= 2) {
      ++out.iterations;
      return finish(true, "objective stopped decreasing");
    }
  }
  return finish(max_abs(g) <= o.gradient_tolerance, fmt::format("{} iterations reached", o.max_iterations));
}

// ---- Fits --------------------------------------------------------------------------------------------

const char* law_form_name(LawForm form) { return form == LawForm::power_law ? "power_law" : "encoder_decoder"; }

namespace {
// L = E + A'·Π (x_j / x_ref_j)^(−p_j) from θ = (log E, log A', p...).
double predict_theta(const std::vector<double>& theta, const std::vector<double>& x_ref, const std::vector<double>& x) {
  if (theta.empty() || x.size() != x_ref.size()) return std::nan("");
  double log_reducible = theta[1];
  for (size_t j = 0; j < x.size(); ++j) log_reducible -= theta[2 + j] * std::log(x[j] / x_ref[j]);
  return std::exp(theta[0]) + std::exp(log_reducible);
}
}  // namespace

double LawFit::predict(const std::vector<double>& x) const {
  return fitted ? predict_theta(theta, x_reference, x) : std::nan("");
}

double LawFit::predict_round(size_t round, const std::vector<double>& x) const {
  return round < bootstrap_theta.size() ? predict_theta(bootstrap_theta[round], x_reference, x) : std::nan("");
}

namespace {

std::vector<std::string> parameter_names(LawForm form) {
  return form == LawForm::power_law ? std::vector<std::string>{"E", "A", "alpha"}
                                    : std::vector<std::string>{"L_inf", "A", "p_e", "p_d"};
}

// The fit's data in the searched coordinates: u_ij = log(x_ij / x_ref_j), log of the observed loss.
struct Problem {
  std::vector<std::vector<double>> u;
  std::vector<double> log_loss;
  double delta = 1e-3;
};

// Σ_i Huber(log L_pred,i − log L_obs,i) / delta (the 1/delta keeps gradients O(1) where residuals
// exceed delta; it does not move the minimum), θ = (log E, log A', p_1, ..., p_k).
double objective(const Problem& pb, const std::vector<double>& theta, std::vector<double>& grad) {
  std::fill(grad.begin(), grad.end(), 0.0);
  double total = 0;
  for (size_t i = 0; i < pb.u.size(); ++i) {
    double z = theta[1];
    for (size_t j = 0; j < pb.u[i].size(); ++j) z -= theta[2 + j] * pb.u[i][j];
    const double m = std::max(theta[0], z);
    const double lse = m + std::log(std::exp(theta[0] - m) + std::exp(z - m));
    const double w_e = std::exp(theta[0] - lse), w_a = std::exp(z - lse);
    const double r = lse - pb.log_loss[i];
    total += huber(r, pb.delta) / pb.delta;
    const double h = huber_derivative(r, pb.delta) / pb.delta;
    grad[0] += h * w_e;
    grad[1] += h * w_a;
    for (size_t j = 0; j < pb.u[i].size(); ++j) grad[2 + j] -= h * w_a * pb.u[i][j];
  }
  return total;
}

// Starting points, from the data's scale: E a share of the smallest loss, A' a multiple of the
// loss range, exponents over their usual span.
std::vector<std::vector<double>> start_grid(const Problem& pb, size_t k) {
  const double lo = std::exp(*std::min_element(pb.log_loss.begin(), pb.log_loss.end()));
  const double hi = std::exp(*std::max_element(pb.log_loss.begin(), pb.log_loss.end()));
  const double range = std::max(hi - lo, 1e-3 * lo);
  const std::vector<double> e_share = {0.05, 0.3, 0.6, 0.9, 0.99};
  const std::vector<double> a_multiple = {0.3, 1, 3};
  const std::vector<double> exponents = k == 1 ? std::vector<double>{0.05, 0.2, 0.5, 1, 2}
                                               : std::vector<double>{0.05, 0.3, 1, 2};
  std::vector<std::vector<double>> grid;
  for (double es : e_share)
    for (double am : a_multiple) {
      std::vector<double> theta = {std::log(es * lo), std::log(am * range)};
      std::vector<size_t> idx(k, 0);
      while (true) {
        std::vector<double> t = theta;
        for (size_t j = 0; j < k; ++j) t.push_back(exponents[idx[j]]);
        grid.push_back(t);
        size_t j = 0;
        while (j < k && ++idx[j] == exponents.size()) idx[j++] = 0;
        if (j == k) break;
      }
    }
  return grid;
}

struct Optimum {
  std::vector<double> theta;
  double value = std::numeric_limits<double>::infinity();
  bool converged = false;
  std::string stop;
};

// L-BFGS from each start; the lowest converged end point (or the lowest of all when none converged).
Optimum minimize_from(const Problem& pb, const std::vector<std::vector<double>>& starts, const LbfgsOptions& o) {
  const Objective f = [&pb](const std::vector<double>& th, std::vector<double>& g) { return objective(pb, th, g); };
  Optimum best, best_any;
  for (const auto& s : starts) {
    const LbfgsResult r = minimize_lbfgs(f, s, o);
    if (!std::isfinite(r.value)) continue;
    if (r.value < best_any.value) best_any = {r.x, r.value, r.converged, r.stop};
    if (r.converged && r.value < best.value) best = {r.x, r.value, true, r.stop};
  }
  return best.converged ? best : best_any;
}

// The grid points with the lowest objective, for the bootstrap's refits (which also start from the
// full fit's optimum): a full grid per round would cost 75-240 minimisations for little.
std::vector<std::vector<double>> best_starts(const Problem& pb, const std::vector<std::vector<double>>& grid, size_t keep) {
  std::vector<std::pair<double, size_t>> scored;
  std::vector<double> g(grid.front().size());
  for (size_t i = 0; i < grid.size(); ++i) scored.push_back({objective(pb, grid[i], g), i});
  std::sort(scored.begin(), scored.end());
  std::vector<std::vector<double>> out;
  for (size_t i = 0; i < std::min(keep, scored.size()); ++i) out.push_back(grid[scored[i].second]);
  return out;
}

std::vector<double> natural_values(const std::vector<double>& theta, const std::vector<double>& x_ref) {
  double log_a = theta[1];
  for (size_t j = 0; j < x_ref.size(); ++j) log_a += theta[2 + j] * std::log(x_ref[j]);
  std::vector<double> v = {std::exp(theta[0]), std::exp(log_a)};   // A may be +inf for a steep fit
  for (size_t j = 0; j < x_ref.size(); ++j) v.push_back(theta[2 + j]);
  return v;
}

double mean_of(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); }

// Why `points` cannot be fitted with `form`, or "".
std::string unfit_reason(const std::vector<ScalingPoint>& points, LawForm form) {
  const size_t k = form == LawForm::power_law ? 1 : 2;
  for (const auto& p : points) {
    if (p.x.size() != k) return fmt::format("{}: {} coordinates, the form needs {}", p.id, p.x.size(), k);
    if (p.losses.empty()) return fmt::format("{}: no held-out loss", p.id);
    for (double x : p.x)
      if (!(x > 0) || !std::isfinite(x)) return fmt::format("{}: coordinate {} is not positive", p.id, x);
    for (double l : p.losses)
      if (!(l > 0) || !std::isfinite(l)) return fmt::format("{}: held-out loss {} is not positive", p.id, l);
  }
  if (form == LawForm::power_law) {
    std::set<double> xs;
    for (const auto& p : points) xs.insert(p.x[0]);
    if (xs.size() < 3) return fmt::format("not enough points: {} distinct x value{}, a fit of 3 parameters needs 3",
                                          xs.size(), xs.size() == 1 ? "" : "s");
    return "";
  }
  std::set<std::pair<double, double>> pairs;
  std::set<double> enc, dec;
  for (const auto& p : points) pairs.insert({p.x[0], p.x[1]}), enc.insert(p.x[0]), dec.insert(p.x[1]);
  if (pairs.size() < 5 || enc.size() < 2 || dec.size() < 2 || std::max(enc.size(), dec.size()) < 3)
    return fmt::format("not enough points: {} distinct (encoder, decoder) sizes with {} encoder and {} decoder "
                       "values; the 4-parameter form needs 5, with at least 2 of each and 3 of one",
                       pairs.size(), enc.size(), dec.size());
  return "";
}

}  // namespace

LawFit fit_law(const std::vector<ScalingPoint>& points, LawForm form, const FitOptions& o) {
  LawFit fit;
  fit.form = form;
  fit.names = parameter_names(form);
  fit.shapes = int(points.size());
  for (const auto& p : points) fit.seeds += int(p.losses.size());
  fit.reason = unfit_reason(points, form);
  if (!fit.reason.empty()) return fit;
  const size_t k = points.front().x.size();
  fit.x_reference.assign(k, std::numeric_limits<double>::infinity());
  for (const auto& p : points)
    for (size_t j = 0; j < k; ++j) fit.x_reference[j] = std::min(fit.x_reference[j], p.x[j]);
  Problem pb;
  pb.delta = o.huber_delta;
  for (const auto& p : points) {
    std::vector<double> u(k);
    for (size_t j = 0; j < k; ++j) u[j] = std::log(p.x[j] / fit.x_reference[j]);
    pb.u.push_back(u);
    pb.log_loss.push_back(std::log(mean_of(p.losses)));
  }
  if (form == LawForm::power_law) {
    std::vector<std::pair<double, double>> by_x;
    for (size_t i = 0; i < points.size(); ++i) by_x.push_back({points[i].x[0], pb.log_loss[i]});
    std::sort(by_x.begin(), by_x.end());
    for (size_t i = 1; i < by_x.size(); ++i) fit.monotone &= by_x[i].second <= by_x[i - 1].second;
  }
  const auto grid = start_grid(pb, k);
  const Optimum best = minimize_from(pb, grid, o.lbfgs);
  fit.fitted = true;
  fit.converged = best.converged;
  if (!best.converged)
    fit.reason = fmt::format("L-BFGS did not converge from any of {} starting points (best: {})", grid.size(), best.stop);
  fit.theta = best.theta;
  fit.values = natural_values(best.theta, fit.x_reference);
  fit.huber_loss = best.value * pb.delta;
  fit.intervals.assign(fit.values.size(), {std::nan(""), std::nan("")});

  const bool seeded = std::any_of(points.begin(), points.end(), [](const ScalingPoint& p) { return p.losses.size() > 1; });
  if (o.resamples <= 0) {
    fit.interval_note = "no bootstrap requested";
    return fit;
  }
  if (!seeded) {
    fit.interval_note = "one seed per shape: nothing to resample, no interval";
    return fit;
  }
  std::vector<std::vector<double>> starts = best_starts(pb, grid, 3);
  starts.insert(starts.begin(), best.theta);
  std::mt19937_64 rng(o.seed);
  Problem round = pb;
  for (int r = 0; r < o.resamples; ++r) {
    for (size_t i = 0; i < points.size(); ++i) round.log_loss[i] = std::log(resampled_mean(points[i].losses, rng));
    const Optimum b = minimize_from(round, starts, o.lbfgs);
    ++fit.bootstrap_rounds;
    if (!b.converged) {
      ++fit.bootstrap_failed;
      continue;
    }
    fit.bootstrap_values.push_back(natural_values(b.theta, fit.x_reference));
    fit.bootstrap_theta.push_back(b.theta);
  }
  if (fit.bootstrap_values.size() < 2) {
    fit.interval_note = fmt::format("{} of {} bootstrap fits converged: no interval", fit.bootstrap_values.size(),
                                    fit.bootstrap_rounds);
    return fit;
  }
  for (size_t j = 0; j < fit.values.size(); ++j) {
    std::vector<double> column;
    for (const auto& v : fit.bootstrap_values)
      if (!std::isnan(v[j])) column.push_back(v[j]);
    fit.intervals[j] = percentile_interval(column, o.level);
  }
  if (fit.bootstrap_failed > 0)
    fit.interval_note = fmt::format("{} of {} bootstrap fits did not converge and are left out", fit.bootstrap_failed,
                                    fit.bootstrap_rounds);
  return fit;
}

ExtrapolationCheck extrapolation_check(const std::vector<ScalingPoint>& points, LawForm form, const FitOptions& o) {
  ExtrapolationCheck c;
  if (const std::string why = unfit_reason(points, form); !why.empty()) {
    c.reason = why;
    return c;
  }
  const auto size_of = [](const ScalingPoint& p) { return std::accumulate(p.x.begin(), p.x.end(), 0.0); };
  double largest = 0;
  for (const auto& p : points) largest = std::max(largest, size_of(p));
  std::vector<ScalingPoint> rest;
  std::vector<double> held_losses;
  for (const auto& p : points) {
    if (size_of(p) == largest) {
      c.held_out.push_back(p.id);
      c.x = p.x;
      held_losses.insert(held_losses.end(), p.losses.begin(), p.losses.end());
    } else {
      rest.push_back(p);
    }
  }
  c.fit = fit_law(rest, form, o);
  if (!c.fit.fitted) {
    c.reason = "without the largest shape: " + c.fit.reason;
    return c;
  }
  c.done = true;
  c.predicted = c.fit.predict(c.x);
  std::vector<double> predictions;
  for (size_t r = 0; r < c.fit.bootstrap_theta.size(); ++r)
    if (const double p = c.fit.predict_round(r, c.x); std::isfinite(p)) predictions.push_back(p);
  c.predicted_interval = predictions.size() >= 2 ? percentile_interval(predictions, o.level)
                                                 : std::make_pair(std::nan(""), std::nan(""));
  c.measured_seeds = int(held_losses.size());
  c.measured = mean_of(held_losses);
  if (held_losses.size() > 1) {
    double ss = 0;
    for (double l : held_losses) ss += (l - c.measured) * (l - c.measured);
    c.measured_std = std::sqrt(ss / double(held_losses.size() - 1));
  }
  c.relative_error = (c.predicted - c.measured) / c.measured;
  return c;
}

namespace {
ordered_json number_or_null(double x) { return std::isfinite(x) ? ordered_json(x) : ordered_json(nullptr); }
}  // namespace

ordered_json to_json(const LawFit& fit) {
  ordered_json j = {{"form", law_form_name(fit.form)}, {"fitted", fit.fitted}, {"converged", fit.converged},
                    {"reason", fit.reason.empty() ? ordered_json(nullptr) : ordered_json(fit.reason)},
                    {"shapes", fit.shapes}, {"seeds", fit.seeds}};
  if (!fit.fitted) return j;
  ordered_json params = ordered_json::object();
  for (size_t i = 0; i < fit.names.size(); ++i)
    params[fit.names[i]] = {{"value", number_or_null(fit.values[i])}, {"lo", number_or_null(fit.intervals[i].first)},
                            {"hi", number_or_null(fit.intervals[i].second)}};
  j["parameters"] = params;
  j["huber_loss"] = number_or_null(fit.huber_loss);
  // A' = A · Π x_ref^(−p): the reducible loss at the smallest x, finite even where A overflows.
  j["reducible_at_reference"] = number_or_null(std::exp(fit.theta[1]));
  j["monotone"] = fit.monotone;
  j["x_reference"] = fit.x_reference;
  j["bootstrap"] = {{"rounds", fit.bootstrap_rounds}, {"failed", fit.bootstrap_failed},
                    {"note", fit.interval_note.empty() ? ordered_json(nullptr) : ordered_json(fit.interval_note)}};
  return j;
}

ordered_json to_json(const ExtrapolationCheck& c) {
  if (!c.done) return {{"done", false}, {"reason", c.reason}};
  return {{"done", true},
          {"held_out", c.held_out},
          {"x", c.x},
          {"predicted", number_or_null(c.predicted)},
          {"predicted_lo", number_or_null(c.predicted_interval.first)},
          {"predicted_hi", number_or_null(c.predicted_interval.second)},
          {"measured", c.measured},
          {"measured_std", c.measured_std},
          {"measured_seeds", c.measured_seeds},
          {"relative_error", number_or_null(c.relative_error)},
          {"fit", to_json(c.fit)}};
}

// ---- The report's section ----------------------------------------------------------------------------

namespace {

std::vector<double> losses_of(const ShapeSummary& s) {
  std::vector<double> out;
  for (double q : s.qualities) out.push_back(-q);
  return out;
}

// The fitted curve and its bootstrap band at `count` log-spaced x from the smallest x of the points to
// 1.25 × the largest: [[x, L, lo, hi], ...] (lo, hi null without a bootstrap).
ordered_json band(const LawFit& fit, double x_min, double x_max, int count, double level) {
  ordered_json rows = ordered_json::array();
  if (!fit.fitted) return rows;
  const double a = std::log(x_min), b = std::log(1.25 * x_max);
  for (int i = 0; i < count; ++i) {
    const double x = std::exp(a + (b - a) * i / double(count - 1));
    std::vector<double> preds;
    for (size_t r = 0; r < fit.bootstrap_theta.size(); ++r)
      if (const double p = fit.predict_round(r, {x}); std::isfinite(p)) preds.push_back(p);
    const auto [lo, hi] = preds.size() >= 2 ? percentile_interval(preds, level) : std::make_pair(std::nan(""), std::nan(""));
    rows.push_back({x, number_or_null(fit.predict({x})), number_or_null(lo), number_or_null(hi)});
  }
  return rows;
}

ordered_json points_json(const std::vector<ScalingPoint>& points, const LawFit& fit) {
  ordered_json out = ordered_json::array();
  for (const auto& p : points) {
    double m = mean_of(p.losses), ss = 0;
    for (double l : p.losses) ss += (l - m) * (l - m);
    out.push_back({{"id", p.id}, {"x", p.x}, {"loss", m},
                   {"loss_std", p.losses.size() > 1 ? std::sqrt(ss / double(p.losses.size() - 1)) : 0.0},
                   {"seeds", p.losses.size()}, {"predicted", number_or_null(fit.predict(p.x))}});
  }
  return out;
}

ordered_json one_fit(const std::vector<ScalingPoint>& points, LawForm form, const std::string& x_name,
                     const FitOptions& o) {
  const LawFit fit = fit_law(points, form, o);
  ordered_json j = {{"x", x_name}, {"fit", to_json(fit)}, {"extrapolation", to_json(extrapolation_check(points, form, o))},
                    {"points", points_json(points, fit)}};
  if (form == LawForm::power_law && fit.fitted) {
    double lo = std::numeric_limits<double>::infinity(), hi = 0;
    for (const auto& p : points) lo = std::min(lo, p.x[0]), hi = std::max(hi, p.x[0]);
    j["curve"] = band(fit, lo, hi, 60, o.level);
  }
  return j;
}

// The shape JSON without the fields that define the axis (and the name): equal for one family.
std::string family_key(const json& shape, const std::vector<std::string>& drop) {
  json rest = shape;
  rest.erase("name");
  for (const auto& k : drop) rest.erase(k);
  return rest.dump();
}

}  // namespace

ordered_json scaling_fits(const std::vector<ShapeSummary>& shapes, const FitOptions& o) {
  ordered_json out = {{"loss", "held-out loss (mean cross entropy, nats per target token), mean over seeds"},
                      {"huber_delta", o.huber_delta},
                      {"bootstrap", {{"resamples", o.resamples}, {"seed", o.seed}, {"level", o.level}}},
                      {"axes", ordered_json::array()}};
  struct Axis {
    std::string name;
    std::vector<std::string> drop;
    bool equal_depth = false;   // nl: only shapes with el = dl
    bool enc_dec = false;       // el and dl vary separately
  };
  const std::vector<Axis> axes = {{"nl", {"el", "dl"}, true},  {"el", {"el"}},           {"dl", {"dl"}},
                                  {"el,dl", {"el", "dl"}, false, true}, {"dm", {"dm"}}, {"ff", {"ff"}},
                                  {"kv", {"kv"}},                   {"nh", {"nh"}}};
  bool one_family_is_everything = false;
  for (const Axis& axis : axes) {
    std::map<std::string, std::vector<const ShapeSummary*>> families;
    std::vector<std::string> order;
    for (const auto& s : shapes) {
      if (axis.equal_depth && s.shape.value("el", -1) != s.shape.value("dl", -2)) continue;
      const std::string key = family_key(s.shape, axis.drop);
      if (!families.count(key)) order.push_back(key);
      families[key].push_back(&s);
    }
    for (const auto& key : order) {
      const auto& members = families[key];
      std::set<std::string> values;
      bool unequal = false;
      for (const ShapeSummary* s : members) {
        std::string v;
        for (const auto& k : axis.drop) v += s->shape.value(k, json()).dump() + ",";
        values.insert(v);
        unequal |= s->shape.value("el", -1) != s->shape.value("dl", -2);
      }
      if (values.size() < 2 || (axis.enc_dec && !unequal)) continue;
      if (members.size() == shapes.size()) one_family_is_everything = true;
      ordered_json entry = {{"axis", axis.name}, {"index", out["axes"].size()}, {"shapes", ordered_json::array()},
                            {"fits", ordered_json::array()}};
      for (const ShapeSummary* s : members) entry["shapes"].push_back(s->shape_id);
      if (axis.enc_dec) {
        std::vector<ScalingPoint> points;
        std::string problem;
        for (const ShapeSummary* s : members) {
          try {
            const ParamBreakdown pb = count_params(shape_from_json(s->shape, s->shape_id));
            points.push_back({s->shape_id, {double(pb.encoder), double(pb.decoder)}, losses_of(*s)});
          } catch (const Error& e) {
            problem = e.message();
          }
        }
        if (!problem.empty())
          entry["fits"].push_back({{"x", "encoder_decoder_params"},
                                   {"fit", {{"form", "encoder_decoder"}, {"fitted", false}, {"reason", problem}}}});
        else
          entry["fits"].push_back(one_fit(points, LawForm::encoder_decoder, "encoder_decoder_params", o));
      } else {
        for (const char* x_name : {"params", "flops"}) {
          std::vector<ScalingPoint> points;
          for (const ShapeSummary* s : members)
            points.push_back({s->shape_id, {std::string(x_name) == "params" ? double(s->params) : s->train_flops},
                              losses_of(*s)});
          entry["fits"].push_back(one_fit(points, LawForm::power_law, x_name, o));
        }
      }
      out["axes"].push_back(entry);
    }
  }
  if (!one_family_is_everything && shapes.size() >= 2) {
    ordered_json entry = {{"axis", "all shapes"}, {"index", out["axes"].size()}, {"shapes", ordered_json::array()},
                          {"fits", ordered_json::array()}};
    for (const auto& s : shapes) entry["shapes"].push_back(s.shape_id);
    for (const char* x_name : {"params", "flops"}) {
      std::vector<ScalingPoint> points;
      for (const auto& s : shapes)
        points.push_back({s.shape_id, {std::string(x_name) == "params" ? double(s.params) : s.train_flops}, losses_of(s)});
      entry["fits"].push_back(one_fit(points, LawForm::power_law, x_name, o));
    }
    out["axes"].push_back(entry);
  }
  return out;
}

namespace {

double num(const ordered_json& j) { return j.is_number() ? j.get<double>() : std::nan(""); }

std::string number(double x) {
  if (!std::isfinite(x)) return "—";
  const double a = std::fabs(x);
  return a != 0 && (a >= 1e5 || a < 1e-3) ? fmt::format("{:.4g}", x) : fmt::format("{:.4f}", x);
}

std::string estimate(const ordered_json& p) {
  // A = A'·x_ref^alpha leaves a double's range for a steep or rising fit (|alpha| ≫ 1).
  const std::string v = !p.at("value").is_number()       ? "beyond a double"
                        : p["value"].get<double>() == 0.0 ? "below a double"
                                                          : number(p["value"].get<double>());
  if (p.at("lo").is_null() && p.at("hi").is_null()) return v;
  return fmt::format("{} [{}, {}]", v, p["lo"].is_number() ? number(num(p["lo"])) : "−∞",
                     p["hi"].is_number() ? number(num(p["hi"])) : "∞");
}

std::string x_label(const std::string& x) {
  return x == "params" ? "parameters" : x == "flops" ? "training FLOPs" : "encoder, decoder block parameters";
}

std::string x_value(const std::string& x, const ordered_json& coords) {
  std::vector<std::string> parts;
  for (const auto& c : coords) parts.push_back(human_count(c.get<double>()));
  return fmt::format("{} {}", fmt::join(parts, ", "), x == "flops" ? "FLOPs" : "params");
}

std::string extrapolation_line(const std::string& x, const ordered_json& e) {
  if (!e.at("done").get<bool>()) return fmt::format("Extrapolation check: not made ({}).", e.at("reason").get<std::string>());
  const ordered_json& fit = e.at("fit");
  std::string interval;
  if (!e.at("predicted_lo").is_null())
    interval = fmt::format(" [{:.4f}, {:.4f}]", num(e["predicted_lo"]), num(e["predicted_hi"]));
  const int seeds = e.at("measured_seeds").get<int>();
  const std::string measured = seeds > 1 ? fmt::format("{:.4f} ± {:.4f} ({} seeds)", e["measured"].get<double>(),
                                                       e["measured_std"].get<double>(), seeds)
                                         : fmt::format("{:.4f} (1 seed)", e["measured"].get<double>());
  std::string verdict;
  if (!e.at("predicted_lo").is_null()) {
    const double m = e["measured"].get<double>();
    verdict = m >= num(e["predicted_lo"]) && m <= num(e["predicted_hi"])
                  ? "; the measured loss is inside the predicted interval"
                  : "; the measured loss is outside the predicted interval";
  }
  return fmt::format("Extrapolation check: fitted on the {} smaller shapes{}, the law predicts {:.4f}{} at {} ({}); "
                     "measured {}; relative error {:+.2f}%{}.",
                     fit.at("shapes").get<int>(), fit.at("converged").get<bool>() ? "" : " (that fit did not converge)",
                     num(e.at("predicted")), interval, fmt::join(e.at("held_out"), ", "), x_value(x, e.at("x")),
                     measured, 100 * num(e.at("relative_error")), verdict);
}

}  // namespace

std::string scaling_fits_markdown(const ordered_json& fits) {
  std::string md = fmt::format(
      "## Scaling-law fits\n\nHeld-out loss L against x, fitted as L = E + A·x^(−alpha) (Kaplan et al. 2020; Hoffmann "
      "et al. 2022) by minimising Σ Huber(log L_pred − log L_obs, δ = {}) with L-BFGS from a grid of starting points "
      "(E, A > 0); where el and dl vary separately, L = A·N_e^(−p_e)·N_d^(−p_d) + L_inf over the encoder's and "
      "decoder's block parameters (Ghorbani et al. 2021). A shape's point is the mean over its seeds; intervals are "
      "{:.0f}% bootstrap percentile intervals over {} rounds that redraw each shape's seeds (fixed seed {}). The "
      "extrapolation check fits all but the largest shape and predicts it: a law that only describes the points it "
      "was fitted on is a curve, one that predicts the next shape is a fit. Numbers: fits.json.\n\n",
      fits.at("huber_delta").get<double>(), 100 * fits["bootstrap"]["level"].get<double>(),
      fits["bootstrap"]["resamples"].get<int>(), fits["bootstrap"]["seed"].get<uint64_t>());
  if (fits.at("axes").empty()) return md + "No sweep axis with at least two values: nothing to fit.\n\n";
  for (const auto& axis : fits["axes"]) {
    const auto& shapes = axis.at("shapes");
    md += fmt::format("### {}: {} shapes ({} … {})\n\n", axis.at("axis").get<std::string>(), shapes.size(),
                      shapes.front().get<std::string>(), shapes.back().get<std::string>());
    for (const auto& one : axis.at("fits")) {
      const std::string x = one.at("x").get<std::string>();
      const ordered_json& fit = one.at("fit");
      if (!fit.at("fitted").get<bool>()) {
        md += fmt::format("- against {}: no fit — {}.\n", x_label(x), fit.at("reason").get<std::string>());
        continue;
      }
      std::string params;
      for (const auto& [name, p] : fit.at("parameters").items())
        params += fmt::format("{}{} = {}", params.empty() ? "" : ", ", name, estimate(p));
      md += fmt::format("- against {} ({} shapes, {} seeds): {}; Σ Huber {:.3g}{}{}{}.\n", x_label(x),
                        fit.at("shapes").get<int>(), fit.at("seeds").get<int>(), params, num(fit.at("huber_loss")),
                        fit.at("monotone").get<bool>()
                            ? ""
                            : "; the measured losses do not fall monotonically with x, so no law of this form follows "
                              "them: read it as a summary, not a law",
                        fit.at("converged").get<bool>() ? "" : "; NOT CONVERGED: " + fit.at("reason").get<std::string>(),
                        fit["bootstrap"]["note"].is_null() ? "" : "; " + fit["bootstrap"]["note"].get<std::string>());
      md += "  " + extrapolation_line(x, one.at("extrapolation")) + "\n";
    }
    md += fmt::format("\n![scaling fits: {0}](scaling_fit_{1}.png)\n\n", axis["axis"].get<std::string>(),
                      axis["index"].get<int>());
  }
  return md;
}

}  // namespace t5
