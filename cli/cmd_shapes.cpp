// t5scale shapes (--params N | --flops F) --knobs K,... [--base SHAPE] [--tolerance T] : every shape on
// a grid of the knobs' usual values within the budget, from the exact counts (core/shape_search.h);
// --spec-out writes them as a sweep spec, so "deep-narrow against wide at equal parameters" is one
// command followed by `t5scale sweep`.
#include <iostream>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/command.h"
#include "core/atomic_file.h"
#include "core/describe.h"
#include "core/error.h"
#include "core/names.h"
#include "core/shape_search.h"

namespace t5::cli {
namespace {

std::vector<std::string> split_knobs(const std::string& text) {
  std::vector<std::string> knobs;
  std::stringstream in(text);
  for (std::string k; std::getline(in, k, ',');)
    if (!k.empty()) knobs.push_back(k);
  return knobs;
}

// A sweep spec over the matches, with the training settings of the demo sweep (sweeps/demo-depth-tiny.json)
// at the lengths given; edit it before running `t5scale sweep` on it.
nlohmann::json spec_of(const std::vector<BudgetMatch>& matches, const std::string& name, const std::string& budget,
                       const Lengths& len) {
  nlohmann::json shapes = nlohmann::json::array();
  for (const BudgetMatch& m : matches) shapes.push_back(m.shape.name);
  return {{"name", name},
          {"question", fmt::format("At equal {}, how does quality move with the shape?", budget)},
          {"description", fmt::format("Written by t5scale shapes: every grid shape within the budget ({}).", budget)},
          {"shapes", shapes},
          {"seeds", {0}},
          {"budget", {{"steps", 400}}},
          {"batch", len.batch},
          {"inputs_length", len.inputs},
          {"targets_length", len.targets},
          {"optimizer", "adafactor"},
          {"schedule", "constant"},
          {"lr", 0.02},
          {"eval", {{"every", 100}, {"batches", 16}}},
          {"data", {{"corpus", "data/demo"}, {"tokenizer", "data/demo/spiece.model"}}}};
}

int run_shapes(const std::vector<std::string>& args) {
  po::options_description opts("t5scale shapes (--params N | --flops F) --knobs nl,dm [options]");
  Lengths len;
  std::string params, flops, knobs, base, tolerance, spec_out, name;
  int64_t limit = 0;
  opts.add_options()
      ("params", po::value<std::string>(&params), "exact parameter budget (60M, 1.2G, 125000000)")
      ("flops", po::value<std::string>(&flops), "training FLOPs per step at the lengths below (SPEC §3)")
      ("knobs", po::value<std::string>(&knobs)->required(), "knobs to search, comma-separated: el dl nl dm ff kv nh")
      ("base", po::value<std::string>(&base)->default_value("small"), "shape the other knobs come from")
      ("tolerance", po::value<std::string>(&tolerance)->default_value("5%"), "largest |value/budget - 1|")
      ("limit", po::value<int64_t>(&limit)->default_value(0), "print at most this many (nearest first; 0 = all)")
      ("spec-out", po::value<std::string>(&spec_out), "also write the matches as a sweep spec (JSON) here")
      ("name", po::value<std::string>(&name), "the spec's sweep name (default: budget-<knobs>)");
  add_length_options(opts, len);
  opts.add_options()("json", po::bool_switch(), "print one JSON array");
  po::variables_map vm;
  if (!parse_options("shapes", args, opts, vm)) return 0;
  check_lengths(len);
  T5_CHECK_HINT(vm.count("params") + vm.count("flops") == 1, "for example --params 60M or --flops 2T",
                "give exactly one of --params and --flops");
  T5_CHECK(limit >= 0, "--limit must be 0 or more, got {}", limit);
  BudgetQuery q;
  q.kind = vm.count("params") ? ShapeBudget::params : ShapeBudget::flops;
  q.target = q.kind == ShapeBudget::params ? parse_budget_number(params, "--params") : parse_budget_number(flops, "--flops");
  q.tolerance = parse_tolerance(tolerance, "--tolerance");
  q.knobs = split_knobs(knobs);
  q.base = parse_shape_name(base);
  q.lengths = len;
  const std::vector<BudgetMatch> matches = shapes_within_budget(q);
  const std::string budget = fmt::format("{} {} ± {:g}%", human_count(q.target),
                                         q.kind == ShapeBudget::params ? "parameters" : "training FLOPs per step",
                                         100 * q.tolerance);
  if (!spec_out.empty()) {
    T5_CHECK_HINT(!matches.empty(), "a larger --tolerance, or other --knobs", "no shape within {}: nothing to write to {}",
                  budget, spec_out);
    const std::string sweep = name.empty() ? "budget-" + fmt::format("{}", fmt::join(q.knobs, "-")) : name;
    write_text_atomic(spec_out, spec_of(matches, sweep, budget, len).dump(2) + "\n");
  }
  const size_t shown = limit > 0 ? std::min(matches.size(), size_t(limit)) : matches.size();
  if (vm["json"].as<bool>()) {
    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < shown; ++i) {
      out.push_back(describe_shape(matches[i].shape, len));
      out.back()["budget_relative_error"] = matches[i].relative_error;
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << describe_lengths(len) << "\n" << fmt::format("{:>8} ", "vs budget") << describe_header() << "\n";
  for (size_t i = 0; i < shown; ++i)
    std::cout << fmt::format("{:>+8.2f}% ", 100 * matches[i].relative_error) << describe_row(matches[i].shape, len)
              << "\n";
  std::cout << fmt::format("{} shape(s) within {} on the grid of {} around {}{}\n", matches.size(), budget,
                           fmt::join(q.knobs, ", "), short_name(q.base.name),
                           spec_out.empty() ? "" : "; sweep spec written to " + spec_out);
  return 0;
}

const Registrar kShapes("shapes", "every shape within a parameter or FLOP budget, as a table or a sweep spec",
                        run_shapes);

}  // namespace
}  // namespace t5::cli
