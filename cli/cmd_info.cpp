// t5scale info SHAPE... : exact parameters, FLOPs and memory of named shapes or config.json files; a
// released checkpoint's name also carries the catalogue's note on it (core/catalogue.h).
#include <iostream>

#include <fmt/format.h>

#include "cli/command.h"
#include "core/catalogue.h"
#include "core/describe.h"
#include "core/error.h"
#include "core/names.h"

namespace t5::cli {
namespace {

int run_info(const std::vector<std::string>& args) {
  po::options_description opts("t5scale info SHAPE... (a name like small-dl4, a config.json or a checkpoint dir)");
  Lengths len;
  opts.add_options()("shape", po::value<std::vector<std::string>>()->required(), "shape names or JSON files");
  add_length_options(opts, len);
  opts.add_options()("json", po::bool_switch(), "print one JSON array");
  po::variables_map vm;
  if (!parse_options("info", args, opts, vm, {{"shape", -1}})) return 0;
  check_lengths(len);
  std::vector<Shape> shapes;
  std::vector<const CatalogueEntry*> released;   // the catalogue entry a name means, for its note (else null)
  for (const auto& arg : vm["shape"].as<std::vector<std::string>>()) {
    shapes.push_back(resolve_shape(arg));
    released.push_back(find_in_catalogue(arg));
  }
  const auto note_of = [&](size_t i) { return released[i] ? released[i]->note : std::string(); };
  if (vm["json"].as<bool>()) {
    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < shapes.size(); ++i) {
      out.push_back(describe_shape(shapes[i], len));
      if (!note_of(i).empty()) out.back()["note"] = note_of(i);
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << describe_lengths(len) << "\n" << describe_header() << "\n";
  std::string notes;
  for (size_t i = 0; i < shapes.size(); ++i) {
    std::cout << describe_row(shapes[i], len) << "\n";
    if (!note_of(i).empty()) notes += fmt::format("note: {}: {}\n", released[i]->name, note_of(i));
  }
  std::cout << notes;
  return 0;
}

const Registrar kInfo("info", "exact parameters, FLOPs and memory of shapes", run_info);

}  // namespace
}  // namespace t5::cli
