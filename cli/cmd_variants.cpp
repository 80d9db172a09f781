// t5scale variants [--size S] [--knob K] [--json] : the released t5-efficient checkpoints
// (core/catalogue.h) with the same fields as `info`, plus the size, the sweep and any known quirk.
#include <iostream>
#include <optional>

#include <fmt/format.h>

#include "cli/command.h"
#include "core/catalogue.h"
#include "core/describe.h"

namespace t5::cli {
namespace {

int run_variants(const std::vector<std::string>& args) {
  po::options_description opts("t5scale variants [--size S] [--knob K]: the released t5-efficient checkpoints");
  Lengths len;
  std::string size, knob;
  opts.add_options()
      ("size", po::value<std::string>(&size), "only this standard size (tiny, mini, small, base, large, xl, xxl)")
      ("knob", po::value<std::string>(&knob), "only sweeps varying this knob (el dl nl dm ff kv nh) or this sweep "
                                              "(standard, el-dl, nh-nl)");
  add_length_options(opts, len);
  opts.add_options()("json", po::bool_switch(), "print one JSON array");
  po::variables_map vm;
  if (!parse_options("variants", args, opts, vm)) return 0;
  check_lengths(len);
  const auto given = [&vm](const char* name, const std::string& value) {
    return vm.count(name) ? std::optional<std::string>(value) : std::nullopt;
  };
  const std::vector<CatalogueEntry> entries = filter_catalogue(given("size", size), given("knob", knob));
  if (vm["json"].as<bool>()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : entries) {
      nlohmann::json j = describe_shape(e.shape, len);
      j["hf_id"] = "google/" + e.name;
      j["size"] = e.size;
      j["sweep"] = e.sweep;
      if (!e.note.empty()) j["note"] = e.note;
      out.push_back(std::move(j));
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << describe_lengths(len) << "\n" << fmt::format("{:<9}", "sweep") << describe_header() << "\n";
  std::string notes;
  for (const auto& e : entries) {
    std::cout << fmt::format("{:<9}", e.sweep) << describe_row(e.shape, len) << "\n";
    if (!e.note.empty()) notes += fmt::format("note: {}: {}\n", e.name, e.note);
  }
  std::cout << notes << fmt::format("{} of {} catalogued checkpoints\n", entries.size(), catalogue().size());
  return 0;
}

const Registrar kVariants("variants", "the released t5-efficient checkpoints (filter by size, knob)", run_variants);

}  // namespace
}  // namespace t5::cli
