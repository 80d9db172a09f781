// Scaling-law fits of held-out loss (issue 16), computed in C++ so the report and the plot share one
// set of numbers.
//
// Forms, both L = E + A · Π_j x_j^(−p_j):
//   power law        L(x) = E + A · x^(−alpha), x = parameters or training FLOPs of a sweep along one
//                    axis (Kaplan et al. 2020; Hoffmann et al. 2022, "Chinchilla", approach 3 with one
//                    variable);
//   encoder-decoder  L(N_e, N_d) = A · N_e^(−p_e) · N_d^(−p_d) + L_inf, N_e and N_d the encoder's and
//                    decoder's block parameters, for sweeps where el and dl vary separately (Ghorbani,
//                    Firat, Freitag, Bapna, Krikun, Garcia, Chelba, Cherry 2021, "Scaling Laws for
//                    Neural Machine Translation", arXiv 2109.07740, eq. 2, written there as
//                    α (N̄_e/N_e)^p_e (N̄_d/N_d)^p_d + L_∞; our A absorbs α N̄_e^p_e N̄_d^p_d).
// Loss: the sum over shapes of Huber(log L_pred − log L_obs, delta = 1e-3), as Chinchilla's
// appendix D.2 and OLMo-core's model-ladder analysis fit (there with scipy's L-BFGS-B). Parameters
// are searched as θ = (log E, log A', p...) so E and A stay positive, with log L_pred =
// logsumexp(log E, log A' − Σ p_j log(x_j / x_ref_j)) and x_ref_j the smallest x_j of the fit (for
// conditioning; A = A' · Π x_ref_j^p_j is reported). The minimiser is the small L-BFGS below
// (Nocedal & Wright, algorithm 7.4/7.5, Armijo backtracking), started from every point of a grid
// and keeping the lowest converged end point.
// Uncertainty: a shape's point is the mean of its seeds' losses; each of `resamples` bootstrap rounds
// redraws every shape's seeds with replacement (results/bootstrap.h, fixed generator seed), refits,
// and the 95% interval of each parameter is the percentile interval over the rounds.
// Extrapolation check: fit on all but the largest shape(s) (largest x; largest N_e + N_d), predict
// the held-out one(s) and compare with the measured loss.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace t5 {

struct ShapeSummary;

// Huber (1964): r²/2 for |r| <= delta, delta · (|r| − delta/2) beyond; huber_derivative is its slope.
double huber(double r, double delta);
double huber_derivative(double r, double delta);

// ---- L-BFGS (unconstrained, smooth objectives) ----------------------------------------------------

// f(x, gradient) returns the objective at x and writes its gradient (gradient.size() == x.size()).
using Objective = std::function<double(const std::vector<double>& x, std::vector<double>& gradient)>;
struct LbfgsOptions {
  int max_iterations = 1000;
  int memory = 10;                       // (s, y) pairs kept
  double gradient_tolerance = 1e-10;     // converged when max |gradient| <= this
  double relative_tolerance = 1e-15;     // or when two steps in a row lower f by <= this · max(|f|, 1)
};
struct LbfgsResult {
  std::vector<double> x;
  double value = 0;
  int iterations = 0;
  bool converged = false;
  std::string stop;                      // why it stopped, in words
};
LbfgsResult minimize_lbfgs(const Objective& f, std::vector<double> x0, const LbfgsOptions& options = {});

// ---- Fits -------------------------------------------------------------------------------------------

enum class LawForm { power_law, encoder_decoder };
const char* law_form_name(LawForm form);   // "power_law" | "encoder_decoder"

// One shape: its coordinates (power law: {x}; encoder-decoder: {N_e, N_d}) and the held-out loss
// (nats) of each of its seeds.
struct ScalingPoint {
  std::string id;
  std::vector<double> x;
  std::vector<double> losses;
};

struct FitOptions {
  double huber_delta = 1e-3;
  int resamples = 200;       // bootstrap rounds (0 = no intervals)
  uint64_t seed = 0;         // of the bootstrap generator
  double level = 0.95;       // of the intervals
  LbfgsOptions lbfgs;
};

struct LawFit {
  LawForm form = LawForm::power_law;
  bool fitted = false;                 // false: `reason` says why (too few points, bad input)
  bool converged = false;              // of the fit on all points; false with fitted: see `reason`
  std::string reason;                  // empty when fitted and converged
  std::vector<std::string> names;      // power law: E, A, alpha; encoder-decoder: L_inf, A, p_e, p_d
  std::vector<double> values;          // the fit on the seed means, same order as names
  std::vector<std::pair<double, double>> intervals;   // bootstrap percentile intervals (NaN: none)
  std::string interval_note;           // why there are no intervals, or how many rounds failed
  std::vector<std::vector<double>> bootstrap_values;  // each converged round's values
  // The same in the searched coordinates θ = (log E, log A', p...), A' = A · Π x_reference_j^(−p_j):
  // predictions go through these because A alone overflows a double for a steep fit (alpha ≫ 1).
  std::vector<double> theta;
  std::vector<std::vector<double>> bootstrap_theta;
  int bootstrap_rounds = 0;            // rounds run
  int bootstrap_failed = 0;            // rounds whose fit did not converge (left out of the intervals)
  double huber_loss = 0;               // Σ Huber of the log residuals at the fit
  std::vector<double> x_reference;     // smallest x_j of the points
  int shapes = 0, seeds = 0;
  // Power law: the seed means never rise with x. When they do, no law of this form follows them and
  // the fit is a summary (often a step: alpha ≫ 1). Encoder-decoder: not checked (true).
  bool monotone = true;
  double predict(const std::vector<double>& x) const;   // L at x with the fit on the seed means
  double predict_round(size_t round, const std::vector<double>& x) const;   // with bootstrap_theta[round]
};

// Fits `form` to the points (the mean over seeds of each), with bootstrap intervals. Never throws on
// degenerate data: fewer than 3 distinct x (power law), fewer than 5 distinct (N_e, N_d) with
// fewer than 2 values of either or 3 of neither (encoder-decoder), a point without losses, a
// non-positive x or loss: fitted = false and the reason.
LawFit fit_law(const std::vector<ScalingPoint>& points, LawForm form, const FitOptions& options = {});

struct ExtrapolationCheck {
  bool done = false;
  std::string reason;                  // why not done
  std::vector<std::string> held_out;   // ids of the largest shape(s), left out of the fit
  std::vector<double> x;               // their coordinates
  double predicted = 0;                // L predicted there by the fit on the rest
  std::pair<double, double> predicted_interval{0, 0};   // over that fit's bootstrap rounds (NaN: none)
  double measured = 0;                 // mean held-out loss of the held-out runs
  double measured_std = 0;             // sample standard deviation over those runs (0 with one)
  int measured_seeds = 0;
  double relative_error = 0;           // (predicted − measured) / measured
  LawFit fit;                          // the fit on the rest
};
ExtrapolationCheck extrapolation_check(const std::vector<ScalingPoint>& points, LawForm form,
                                       const FitOptions& options = {});

nlohmann::ordered_json to_json(const LawFit& fit);
nlohmann::ordered_json to_json(const ExtrapolationCheck& check);

// ---- The report's section -------------------------------------------------------------------------

// Every fit the report makes of a sweep's shapes: for each axis along which shapes differ in one knob
// only (nl, el, dl, dm, ff, kv, nh; a family = the shapes equal in everything else), the power law
// against parameters and against training FLOPs; where el and dl vary separately, the
// encoder-decoder form; when the sweep is not one such family, the power law over all its shapes.
// The JSON is what fits.json holds and the plot draws; the markdown is written from it.
nlohmann::ordered_json scaling_fits(const std::vector<ShapeSummary>& shapes, const FitOptions& options = {});
std::string scaling_fits_markdown(const nlohmann::ordered_json& fits);

}  // namespace t5
