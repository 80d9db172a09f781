#include "cli/optimizer_options.h"

#include <cmath>

#include "core/error.h"

namespace t5::cli {

void add_optimizer_options(po::options_description& options) {
  options.add_options()
      ("optimizer", po::value<std::string>()->default_value("adafactor"), "adafactor (Mesh TF) | adamw (torch)")
      ("beta1", po::value<double>(), "Adafactor momentum (default 0 = none) or AdamW beta1 (default 0.9)")
      ("beta2", po::value<double>(), "AdamW beta2 (default 0.999)")
      ("eps", po::value<double>(), "AdamW epsilon, outside the square root (default 1e-8)")
      ("weight-decay", po::value<double>()->default_value(0.0), "decoupled weight decay (torch's AdamW default is 0.01)")
      ("clip-norm", po::value<double>()->default_value(0.0), "global gradient-norm clipping; 0 = off")
      ("factor-threshold", po::value<int64_t>()->default_value(128),
       "Adafactor: factor 2-D tensors whose smaller dim is at least this (0 = every 2-D tensor, as HF)")
      ("no-parameter-scale", po::bool_switch(), "Adafactor: do not multiply lr by max(RMS(W), 1e-3) (HF/fairseq)")
      ("no-factoring", po::bool_switch(), "Adafactor: full second moments for every tensor")
      ("decay-exponent", po::value<double>()->default_value(0.8, "0.8"), "Adafactor: decay 1 - (t+1)^-x")
      ("update-clip", po::value<double>()->default_value(1.0), "Adafactor: update clipping RMS; 0 = off");
}

OptimizerConfig optimizer_config_from_options(const po::variables_map& vm) {
  OptimizerConfig c;
  c.name = vm["optimizer"].as<std::string>();
  T5_CHECK_HINT(c.name == "adafactor" || c.name == "adamw", "use adafactor or adamw",
                "--optimizer: unknown optimizer '{}'", c.name);
  const bool adamw = c.name == "adamw";
  if (vm.count("beta1")) (adamw ? c.adam_beta1 : c.beta1) = vm["beta1"].as<double>();
  T5_CHECK(!(!adamw && (vm.count("beta2") || vm.count("eps"))), "--beta2 and --eps apply to --optimizer adamw only");
  if (vm.count("beta2")) c.adam_beta2 = vm["beta2"].as<double>();
  if (vm.count("eps")) c.adam_eps = vm["eps"].as<double>();
  c.weight_decay = vm["weight-decay"].as<double>();
  c.clip_norm = vm["clip-norm"].as<double>();
  c.factor_threshold = vm["factor-threshold"].as<int64_t>();
  c.multiply_by_parameter_scale = !vm["no-parameter-scale"].as<bool>();
  c.factored = !vm["no-factoring"].as<bool>();
  c.decay_exponent = vm["decay-exponent"].as<double>();
  c.clipping_threshold = vm["update-clip"].as<double>();
  T5_CHECK(c.beta1 >= 0 && c.beta1 < 1 && c.adam_beta1 >= 0 && c.adam_beta1 < 1, "--beta1 must be in [0, 1)");
  T5_CHECK(c.adam_beta2 >= 0 && c.adam_beta2 < 1, "--beta2 must be in [0, 1), got {}", c.adam_beta2);
  check_positive("--eps", c.adam_eps);
  check_range("--weight-decay", c.weight_decay, 0, INFINITY);
  check_range("--clip-norm", c.clip_norm, 0, INFINITY);
  T5_CHECK(c.factor_threshold >= 0, "--factor-threshold must not be negative, got {}", c.factor_threshold);
  check_positive("--decay-exponent", c.decay_exponent);
  check_range("--update-clip", c.clipping_threshold, 0, INFINITY);
  return c;
}

}  // namespace t5::cli
