// t5scale spans: the span-corruption lengths of an inputs length (random_spans_helper, SPEC §6).
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/data/span_corruption.h"
#include "core/error.h"

namespace t5::cli {
namespace {

int run_spans(const std::vector<std::string>& args) {
  po::options_description opts("t5scale spans --inputs-length L [--noise-density D] [--mean-noise-span-length M]");
  SpanCorruptionConfig config;
  opts.add_options()
      ("inputs-length", po::value<int64_t>(&config.inputs_length)->required(), "encoder tokens per example")
      ("noise-density", po::value<double>(&config.noise_density)->default_value(0.15, "0.15"), "share of tokens masked")
      ("mean-noise-span-length", po::value<double>(&config.mean_noise_span_length)->default_value(3.0),
       "mean length of a masked span")
      ("json", po::bool_switch(), "print JSON");
  po::variables_map vm;
  if (!parse_options("spans", args, opts, vm)) return 0;
  const SpanLengths len = span_lengths(config);
  // The mask of a full piece counts in float32 as the original does; it can differ by one token.
  const NoiseCounts mask = noise_counts(len.tokens_length, config.noise_density, config.mean_noise_span_length, true);
  if (vm["json"].as<bool>()) {
    std::cout << nlohmann::json{{"inputs_length", config.inputs_length},
                                {"noise_density", config.noise_density},
                                {"mean_noise_span_length", config.mean_noise_span_length},
                                {"tokens_length", len.tokens_length},
                                {"targets_length", len.targets_length},
                                {"noise_tokens", len.noise_tokens},
                                {"noise_spans", len.noise_spans},
                                {"mask_noise_tokens", mask.noise_tokens},
                                {"mask_noise_spans", mask.noise_spans}}
                     .dump(2)
              << "\n";
    return 0;
  }
  std::cout << fmt::format("inputs_length {} (noise density {}, mean noise span length {})\n", config.inputs_length,
                           config.noise_density, config.mean_noise_span_length);
  std::cout << fmt::format("tokens_length {}\ntargets_length {}\nnoise tokens {}\nnoise spans {}\n", len.tokens_length,
                           len.targets_length, len.noise_tokens, len.noise_spans);
  if (mask.noise_tokens != len.noise_tokens || mask.noise_spans != len.noise_spans)
    std::cout << fmt::format("note: the float32 mask of a full piece has {} noise tokens in {} spans (targets trimmed)\n",
                             mask.noise_tokens, mask.noise_spans);
  return 0;
}

const Registrar kSpans("spans", "span-corruption lengths for an inputs length (random_spans_helper)", run_spans);

}  // namespace
}  // namespace t5::cli
