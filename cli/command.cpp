#include "cli/command.h"

#include <iostream>

#include "core/error.h"

namespace t5::cli {

std::map<std::string, Command>& registry() {
  static std::map<std::string, Command> commands;
  return commands;
}

Registrar::Registrar(std::string name, std::string summary, CommandFn run) {
  registry()[name] = Command{name, std::move(summary), std::move(run)};
}

bool parse_options(const std::string& command, const std::vector<std::string>& args,
                   po::options_description& options, po::variables_map& vm,
                   const std::vector<std::pair<std::string, int>>& positional) {
  options.add_options()("help,h", "show this help");
  po::positional_options_description pos;
  for (const auto& [name, max] : positional) pos.add(name.c_str(), max);
  try {
    po::store(po::command_line_parser(args).options(options).positional(pos).run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: t5scale " << command << " [options]\n" << options << "\n";
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw Error(e.what(),
                fmt::format("see 't5scale {} --help'", command));
  }
  return true;
}

void add_length_options(po::options_description& options, Lengths& lengths) {
  options.add_options()
      ("batch", po::value<int64_t>(&lengths.batch)->default_value(128), "examples per training step")
      ("inputs-length", po::value<int64_t>(&lengths.inputs)->default_value(512), "encoder tokens per example")
      ("targets-length", po::value<int64_t>(&lengths.targets)->default_value(114), "decoder tokens per example");
}

void check_lengths(const Lengths& lengths) {
  const std::pair<const char*, int64_t> values[] = {
      {"--batch", lengths.batch}, {"--inputs-length", lengths.inputs}, {"--targets-length", lengths.targets}};
  for (const auto& [option, value] : values) {
    T5_CHECK(value > 0, "{} must be positive, got {}", option, value);
    T5_CHECK(value <= int64_t{1} << 20, "{} = {} is larger than t5scale supports (2^20)", option, value);
  }
}

}  // namespace t5::cli
