// Scaling-law fits (results/scaling_fit.h) against known answers: Huber values by hand, L-BFGS on
// Rosenbrock's function, exact power-law and encoder-decoder data recovered to 1e-6, noisy data whose
// true parameters lie inside the bootstrap intervals, the bootstrap redone by hand, the extrapolation
// check on exact data, scipy's L-BFGS-B optimum of the same Huber objective
// (tests/fixtures/scaling_fit/scipy_reference.json, made by make_scipy_reference.py), and degenerate
// input.
#include <cmath>
#include <fstream>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "results/bootstrap.h"
#include "results/scaling_fit.h"

namespace t5 {
namespace {

using ::testing::HasSubstr;

double law(double E, double A, double alpha, double x) { return E + A * std::pow(x, -alpha); }

std::vector<ScalingPoint> exact_points(double E, double A, double alpha, const std::vector<double>& xs, int seeds = 1) {
  std::vector<ScalingPoint> out;
  for (double x : xs) out.push_back({"x" + std::to_string(int64_t(x)), {x}, std::vector<double>(seeds, law(E, A, alpha, x))});
  return out;
}

TEST(Huber, ValuesByHand) {
  // Quadratic inside delta: 0.5 · 0.0005² = 1.25e-7; linear outside: 1e-3 · (0.003 − 0.0005) = 2.5e-6.
  EXPECT_DOUBLE_EQ(huber(0.0005, 1e-3), 1.25e-7);
  EXPECT_DOUBLE_EQ(huber(-0.0005, 1e-3), 1.25e-7);
  EXPECT_DOUBLE_EQ(huber(0.003, 1e-3), 2.5e-6);
  EXPECT_DOUBLE_EQ(huber(-0.003, 1e-3), 2.5e-6);
  EXPECT_DOUBLE_EQ(huber(1e-3, 1e-3), 5e-7);   // both branches agree at the joint
  EXPECT_DOUBLE_EQ(huber_derivative(0.0005, 1e-3), 0.0005);
  EXPECT_DOUBLE_EQ(huber_derivative(0.003, 1e-3), 1e-3);
  EXPECT_DOUBLE_EQ(huber_derivative(-0.003, 1e-3), -1e-3);
}

// The fit's Huber loss by hand: three points of L = 1 + 2·x^(−1) at x = 1, 2, 4 (3, 2, 1.5) with the
// last observed as 1.5·e^0.002 (log residual −0.002, beyond delta) and the others exact, evaluated at
// the true parameters: Σ Huber = 1e-3 · (0.002 − 0.0005) = 1.5e-6. The fit can only do better.
TEST(ScalingFit, HuberLossOfAFitByHand) {
  std::vector<ScalingPoint> pts = exact_points(1, 2, 1, {1, 2, 4});
  pts[2].losses[0] = 1.5 * std::exp(0.002);
  FitOptions o;
  o.resamples = 0;
  const LawFit fit = fit_law(pts, LawForm::power_law, o);
  ASSERT_TRUE(fit.fitted);
  EXPECT_TRUE(fit.converged);
  EXPECT_LE(fit.huber_loss, 1.5e-6);
  // Three points, three parameters: the fit passes through all of them.
  EXPECT_NEAR(fit.huber_loss, 0, 1e-12);
  for (const auto& p : pts) EXPECT_NEAR(fit.predict(p.x), p.losses[0], 1e-6 * p.losses[0]);
}

TEST(Lbfgs, Rosenbrock) {
  const Objective f = [](const std::vector<double>& x, std::vector<double>& g) {
    const double a = 1 - x[0], b = x[1] - x[0] * x[0];
    g[0] = -2 * a - 400 * x[0] * b;
    g[1] = 200 * b;
    return a * a + 100 * b * b;
  };
  const LbfgsResult r = minimize_lbfgs(f, {-1.2, 1.0});
  EXPECT_TRUE(r.converged) << r.stop;
  EXPECT_NEAR(r.x[0], 1, 1e-6);
  EXPECT_NEAR(r.x[1], 1, 1e-6);
  EXPECT_LT(r.iterations, 200);
  // One iteration is not enough, and says so.
  LbfgsOptions one;
  one.max_iterations = 1;
  const LbfgsResult short_run = minimize_lbfgs(f, {-1.2, 1.0}, one);
  EXPECT_FALSE(short_run.converged);
  EXPECT_THAT(short_run.stop, HasSubstr("1 iterations reached"));
}

TEST(ScalingFit, ExactDataRecoveredTo1e6) {
  for (const auto& [E, A, alpha] : {std::tuple{2.0, 40.0, 0.3}, {1.7, 3e3, 0.5}, {4.5, 12.0, 0.12}}) {
    const auto pts = exact_points(E, A, alpha, {1e6, 2e6, 4e6, 8e6, 1.6e7, 3.2e7});
    const LawFit fit = fit_law(pts, LawForm::power_law);
    ASSERT_TRUE(fit.fitted);
    EXPECT_TRUE(fit.converged) << fit.reason;
    EXPECT_NEAR(fit.values[0], E, 1e-6 * E);
    EXPECT_NEAR(fit.values[1], A, 1e-6 * A);
    EXPECT_NEAR(fit.values[2], alpha, 1e-6 * alpha);
    EXPECT_EQ(fit.names, (std::vector<std::string>{"E", "A", "alpha"}));
    EXPECT_EQ(fit.interval_note, "one seed per shape: nothing to resample, no interval");
    EXPECT_TRUE(std::isnan(fit.intervals[0].first));
  }
}

// With identical seeds every bootstrap round sees the same data: the interval collapses onto the fit.
TEST(ScalingFit, IdenticalSeedsGiveAPointInterval) {
  const auto pts = exact_points(2.0, 40.0, 0.3, {1e6, 2e6, 4e6, 8e6}, 3);
  const LawFit fit = fit_law(pts, LawForm::power_law);
  ASSERT_TRUE(fit.converged);
  EXPECT_EQ(fit.bootstrap_rounds, 200);
  EXPECT_EQ(fit.seeds, 12);
  for (size_t j = 0; j < 3; ++j) {
    EXPECT_NEAR(fit.intervals[j].first, fit.values[j], 1e-6 * std::fabs(fit.values[j]));
    EXPECT_NEAR(fit.intervals[j].second, fit.values[j], 1e-6 * std::fabs(fit.values[j]));
  }
}

// Synthetic records: 8 shapes from 1e5 to 1.3e7 params, 6 seeds each, L = 3 + 200·x^(−0.35) plus
// seed noise of 0.01 nats (fixed generator seed). Each true parameter is inside its 95% interval, the
// intervals are not vacuous, and the fit is the same every run.
std::vector<ScalingPoint> noisy_points(double E, double A, double alpha, int shapes, int seeds, double noise,
                                       uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> n01(0, 1);
  std::vector<ScalingPoint> pts;
  for (int i = 0; i < shapes; ++i) {
    const double x = 1e5 * std::pow(2.0, i);
    ScalingPoint p{"s" + std::to_string(i), {x}, {}};
    for (int s = 0; s < seeds; ++s) p.losses.push_back(law(E, A, alpha, x) + noise * n01(rng));
    pts.push_back(p);
  }
  return pts;
}

TEST(ScalingFit, NoisyDataTrueValuesInsideTheIntervals) {
  const double truth[] = {3.0, 200.0, 0.35};
  const auto pts = noisy_points(3.0, 200.0, 0.35, 8, 6, 0.01, 7);
  const LawFit fit = fit_law(pts, LawForm::power_law);
  ASSERT_TRUE(fit.converged) << fit.reason;
  EXPECT_EQ(fit.bootstrap_rounds, 200);
  EXPECT_EQ(fit.shapes, 8);
  EXPECT_EQ(fit.seeds, 48);
  for (size_t j = 0; j < 3; ++j) {
    EXPECT_LE(fit.intervals[j].first, truth[j]) << fit.names[j];
    EXPECT_GE(fit.intervals[j].second, truth[j]) << fit.names[j];
    EXPECT_LE(fit.intervals[j].first, fit.values[j]) << fit.names[j];
    EXPECT_GE(fit.intervals[j].second, fit.values[j]) << fit.names[j];
  }
  EXPECT_LT(fit.intervals[2].second - fit.intervals[2].first, 0.2);   // alpha to better than ±0.1
  EXPECT_LT(fit.intervals[0].second - fit.intervals[0].first, 0.5);   // E to better than ±0.25 nats
  const LawFit again = fit_law(pts, LawForm::power_law);
  EXPECT_EQ(again.values, fit.values);
  EXPECT_EQ(again.intervals, fit.intervals);
}

// The bootstrap redone by hand: the same generator, each shape's seeds redrawn in order, a refit per
// round without intervals, and the percentile interval of those refits.
TEST(ScalingFit, BootstrapMatchesAHandLoop) {
  const auto pts = noisy_points(3.0, 200.0, 0.35, 5, 3, 0.01, 11);
  FitOptions o;
  o.resamples = 20;
  o.seed = 5;
  const LawFit fit = fit_law(pts, LawForm::power_law, o);
  ASSERT_EQ(fit.bootstrap_failed, 0);
  std::mt19937_64 rng(5);
  std::vector<std::vector<double>> by_param(3);
  FitOptions plain = o;
  plain.resamples = 0;
  for (int r = 0; r < 20; ++r) {
    std::vector<ScalingPoint> round = pts;
    for (auto& p : round) {
      std::uniform_int_distribution<size_t> pick(0, p.losses.size() - 1);
      double sum = 0;
      for (size_t k = 0; k < p.losses.size(); ++k) sum += p.losses[pick(rng)];
      p.losses = {sum / double(p.losses.size())};
    }
    const LawFit one = fit_law(round, LawForm::power_law, plain);
    for (size_t j = 0; j < 3; ++j) by_param[j].push_back(one.values[j]);
  }
  for (size_t j = 0; j < 3; ++j) {
    std::sort(by_param[j].begin(), by_param[j].end());
    // 95% of 20 rounds: ranks round(0.025 · 19) = 0 and round(0.975 · 19) = 19.
    EXPECT_NEAR(fit.intervals[j].first, by_param[j][0], 1e-5 * std::fabs(by_param[j][0])) << j;
    EXPECT_NEAR(fit.intervals[j].second, by_param[j][19], 1e-5 * std::fabs(by_param[j][19])) << j;
  }
}

TEST(ScalingFit, EncoderDecoderExponentsRecovered) {
  // Ghorbani et al.'s form L = A · N_e^(−p_e) · N_d^(−p_d) + L_inf on el, dl ∈ {2, 4, 8}.
  const double L_inf = 1.5, A = 90, p_e = 0.2, p_d = 0.4;
  std::vector<ScalingPoint> pts;
  for (int el : {2, 4, 8})
    for (int dl : {2, 4, 8}) {
      const double ne = el * 1.3e5, nd = dl * 1.9e5;
      pts.push_back({"el" + std::to_string(el) + "-dl" + std::to_string(dl), {ne, nd},
                     {A * std::pow(ne, -p_e) * std::pow(nd, -p_d) + L_inf}});
    }
  const LawFit fit = fit_law(pts, LawForm::encoder_decoder);
  ASSERT_TRUE(fit.converged) << fit.reason;
  EXPECT_EQ(fit.names, (std::vector<std::string>{"L_inf", "A", "p_e", "p_d"}));
  EXPECT_NEAR(fit.values[0], L_inf, 1e-6 * L_inf);
  EXPECT_NEAR(fit.values[1], A, 1e-6 * A);
  EXPECT_NEAR(fit.values[2], p_e, 1e-6 * p_e);
  EXPECT_NEAR(fit.values[3], p_d, 1e-6 * p_d);
  // The extrapolation check holds out el8-dl8 and predicts it from the other eight.
  const ExtrapolationCheck c = extrapolation_check(pts, LawForm::encoder_decoder);
  ASSERT_TRUE(c.done) << c.reason;
  EXPECT_EQ(c.held_out, std::vector<std::string>{"el8-dl8"});
  EXPECT_NEAR(c.relative_error, 0, 1e-6);
}

TEST(ScalingFit, ExtrapolationOnExactDataIsExact) {
  const auto pts = exact_points(2.0, 40.0, 0.3, {1e6, 2e6, 4e6, 8e6, 1.6e7}, 2);
  const ExtrapolationCheck c = extrapolation_check(pts, LawForm::power_law);
  ASSERT_TRUE(c.done) << c.reason;
  EXPECT_EQ(c.held_out, std::vector<std::string>{"x16000000"});
  EXPECT_EQ(c.fit.shapes, 4);
  EXPECT_DOUBLE_EQ(c.measured, law(2.0, 40.0, 0.3, 1.6e7));
  EXPECT_EQ(c.measured_seeds, 2);
  EXPECT_EQ(c.measured_std, 0);
  EXPECT_NEAR(c.predicted, c.measured, 1e-7 * c.measured);
  EXPECT_NEAR(c.relative_error, 0, 1e-7);
  EXPECT_NEAR(c.predicted_interval.first, c.predicted, 1e-6);
}

// On noisy data the check's numbers are what they say: the prediction is the rest's fit evaluated at
// the held-out x, the error is relative to the held-out seeds' mean.
TEST(ScalingFit, ExtrapolationNumbersAreConsistent) {
  const auto pts = noisy_points(3.0, 200.0, 0.35, 6, 3, 0.01, 3);
  const ExtrapolationCheck c = extrapolation_check(pts, LawForm::power_law);
  ASSERT_TRUE(c.done);
  EXPECT_EQ(c.held_out, std::vector<std::string>{"s5"});
  std::vector<ScalingPoint> rest(pts.begin(), pts.end() - 1);
  EXPECT_EQ(c.fit.values, fit_law(rest, LawForm::power_law).values);
  EXPECT_DOUBLE_EQ(c.predicted, c.fit.predict(pts.back().x));
  const double m = (pts.back().losses[0] + pts.back().losses[1] + pts.back().losses[2]) / 3;
  EXPECT_NEAR(c.measured, m, 1e-12);
  EXPECT_NEAR(c.relative_error, (c.predicted - m) / m, 1e-12);
  EXPECT_LE(c.predicted_interval.first, c.predicted);
  EXPECT_GE(c.predicted_interval.second, c.predicted);
}

TEST(ScalingFit, DegenerateInputIsAReasonNotAnError) {
  // Two distinct x values (three shapes, two share x).
  const auto two = exact_points(2.0, 40.0, 0.3, {1e6, 2e6, 2e6});
  const LawFit a = fit_law(two, LawForm::power_law);
  EXPECT_FALSE(a.fitted);
  EXPECT_EQ(a.reason, "not enough points: 2 distinct x values, a fit of 3 parameters needs 3");
  EXPECT_FALSE(fit_law({}, LawForm::power_law).fitted);
  EXPECT_THAT(fit_law({}, LawForm::power_law).reason, HasSubstr("0 distinct x values"));
  // A non-positive loss or x.
  auto bad = exact_points(2.0, 40.0, 0.3, {1e6, 2e6, 4e6});
  bad[1].losses[0] = 0;
  EXPECT_THAT(fit_law(bad, LawForm::power_law).reason, HasSubstr("x2000000: held-out loss 0 is not positive"));
  bad = exact_points(2.0, 40.0, 0.3, {1e6, 2e6, 4e6});
  bad[0].losses.clear();
  EXPECT_THAT(fit_law(bad, LawForm::power_law).reason, HasSubstr("x1000000: no held-out loss"));
  // Three points fit, but leaving the largest out leaves two: no extrapolation check.
  const ExtrapolationCheck c = extrapolation_check(exact_points(2.0, 40.0, 0.3, {1e6, 2e6, 4e6}), LawForm::power_law);
  EXPECT_FALSE(c.done);
  EXPECT_THAT(c.reason, HasSubstr("without the largest shape: not enough points: 2 distinct x values"));
  // Encoder-decoder with four (N_e, N_d) pairs.
  std::vector<ScalingPoint> ed = {{"a", {1, 1}, {3}}, {"b", {2, 1}, {2.9}}, {"c", {1, 2}, {2.8}}, {"d", {2, 2}, {2.7}}};
  EXPECT_THAT(fit_law(ed, LawForm::encoder_decoder).reason, HasSubstr("not enough points: 4 distinct (encoder, decoder)"));
}

TEST(ScalingFit, NonConvergedFitSaysSo) {
  FitOptions o;
  o.lbfgs.max_iterations = 1;
  o.resamples = 0;
  const LawFit fit = fit_law(noisy_points(3.0, 200.0, 0.35, 6, 1, 0.01, 3), LawForm::power_law, o);
  EXPECT_TRUE(fit.fitted);
  EXPECT_FALSE(fit.converged);
  EXPECT_THAT(fit.reason, HasSubstr("L-BFGS did not converge from any of 75 starting points"));
  EXPECT_EQ(to_json(fit)["converged"], false);
}

// scipy.optimize.minimize(method="L-BFGS-B") on the same objective (Σ Huber of log residuals,
// delta 1e-3, θ = (log E, log A', alpha), x scaled by its smallest value) from the same grid: the
// minimum and the predictions agree, and the parameters wherever the data identify them.
TEST(ScalingFit, MatchesScipyLbfgsB) {
  std::ifstream in(std::string(T5SCALE_SOURCE_DIR) + "/tests/fixtures/scaling_fit/scipy_reference.json");
  ASSERT_TRUE(in) << "tests/fixtures/scaling_fit/scipy_reference.json";
  const nlohmann::json ref = nlohmann::json::parse(in);
  for (const auto& c : ref.at("cases")) {
    std::vector<ScalingPoint> pts;
    for (const auto& p : c.at("points")) pts.push_back({p.at("id"), {p.at("x").get<double>()}, p.at("losses")});
    FitOptions o;
    o.resamples = 0;
    const LawFit fit = fit_law(pts, LawForm::power_law, o);
    ASSERT_TRUE(fit.converged) << fit.reason;
    const auto& want = c.at("scipy");
    const std::string name = c.at("name");
    // The Huber loss is the same minimum (ours no higher than scipy's but for rounding).
    EXPECT_LE(fit.huber_loss, want.at("huber_loss").get<double>() * (1 + 1e-6)) << name;
    EXPECT_NEAR(fit.huber_loss, want.at("huber_loss").get<double>(), 1e-6 * want.at("huber_loss").get<double>()) << name;
    LawFit theirs = fit;
    theirs.values = {want.at("E").get<double>(), want.at("A").get<double>(), want.at("alpha").get<double>()};
    for (const auto& p : pts) EXPECT_NEAR(fit.predict(p.x), theirs.predict(p.x), 1e-5) << name << " " << p.id;
    if (!c.at("identified").get<bool>()) continue;   // a flat valley: only the objective and predictions
    EXPECT_NEAR(fit.values[0], want.at("E").get<double>(), 1e-4 * want.at("E").get<double>()) << name;
    EXPECT_NEAR(fit.values[1], want.at("A").get<double>(), 1e-3 * want.at("A").get<double>()) << name;
    EXPECT_NEAR(fit.values[2], want.at("alpha").get<double>(), 1e-4) << name;
  }
}

}  // namespace
}  // namespace t5
