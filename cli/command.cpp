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
    throw Error(fmt::format("t5scale {}: {}", command, e.what()),
                fmt::format("see 't5scale {} --help'", command));
  }
  return true;
}

}  // namespace t5::cli
