// t5scale info SHAPE... : exact parameters, FLOPs and memory of named shapes or config.json files.
#include <iostream>

#include "cli/command.h"
#include "core/describe.h"
#include "core/error.h"
#include "core/names.h"

namespace t5::cli {
namespace {

int run_info(const std::vector<std::string>& args) {
  po::options_description opts("t5scale info SHAPE... (a name like small-dl4 or a config.json)");
  Lengths len;
  opts.add_options()
      ("shape", po::value<std::vector<std::string>>()->required(), "shape names or JSON files")
      ("batch", po::value<int64_t>(&len.batch)->default_value(128), "examples per training step")
      ("inputs-length", po::value<int64_t>(&len.inputs)->default_value(512), "encoder tokens per example")
      ("targets-length", po::value<int64_t>(&len.targets)->default_value(114), "decoder tokens per example")
      ("json", po::bool_switch(), "print one JSON array");
  po::variables_map vm;
  if (!parse_options("info", args, opts, vm, {{"shape", -1}})) return 0;
  T5_CHECK(len.batch > 0, "--batch must be positive, got {}", len.batch);
  T5_CHECK(len.inputs > 0, "--inputs-length must be positive, got {}", len.inputs);
  T5_CHECK(len.targets > 0, "--targets-length must be positive, got {}", len.targets);
  std::vector<Shape> shapes;
  for (const auto& arg : vm["shape"].as<std::vector<std::string>>()) shapes.push_back(resolve_shape(arg));
  if (vm["json"].as<bool>()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : shapes) out.push_back(describe_shape(s, len));
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << fmt::format("lengths: inputs {}, targets {}, batch {}; FLOPs exact matmul count (SPEC §3)\n",
                           len.inputs, len.targets, len.batch);
  std::cout << describe_header() << "\n";
  for (const auto& s : shapes) std::cout << describe_row(s, len) << "\n";
  return 0;
}

const Registrar kInfo("info", "exact parameters, FLOPs and memory of shapes", run_info);

}  // namespace
}  // namespace t5::cli
