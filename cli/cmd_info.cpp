// t5scale info SHAPE... : exact parameters, FLOPs and memory of named shapes or config.json files.
#include <iostream>

#include "cli/command.h"
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
  for (const auto& arg : vm["shape"].as<std::vector<std::string>>()) shapes.push_back(resolve_shape(arg));
  if (vm["json"].as<bool>()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : shapes) out.push_back(describe_shape(s, len));
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << describe_lengths(len) << "\n" << describe_header() << "\n";
  for (const auto& s : shapes) std::cout << describe_row(s, len) << "\n";
  return 0;
}

const Registrar kInfo("info", "exact parameters, FLOPs and memory of shapes", run_info);

}  // namespace
}  // namespace t5::cli
