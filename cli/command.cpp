#include "cli/command.h"

#include <charconv>
#include <cmath>
#include <filesystem>
#include <iostream>

#include <unistd.h>

#include "core/error.h"
#include "core/gemm.h"

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

int64_t physical_memory_bytes() { return int64_t(::sysconf(_SC_PHYS_PAGES)) * int64_t(::sysconf(_SC_PAGE_SIZE)); }

void check_training_fits_in_memory(const std::string& label, const Shape& shape, const Lengths& lengths,
                                   OptimizerKind optimizer) {
  const int64_t need = estimate_memory(shape, lengths, optimizer).training_total_bytes, have = physical_memory_bytes();
  T5_CHECK_HINT(need <= have, "a smaller shape, --batch or --inputs-length; 't5scale info' prints the estimate",
                "{}: training needs about {:.1f} GiB, more than the {:.1f} GiB this machine has", label,
                need / 1073741824.0, have / 1073741824.0);
}

void check_lengths(const Lengths& lengths) {
  const std::pair<const char*, int64_t> values[] = {
      {"--batch", lengths.batch}, {"--inputs-length", lengths.inputs}, {"--targets-length", lengths.targets}};
  for (const auto& [option, value] : values) {
    T5_CHECK(value > 0, "{} must be positive, got {}", option, value);
    T5_CHECK(value <= int64_t{1} << 20, "{} = {} is larger than t5scale supports (2^20)", option, value);
  }
}

void add_seed_option(po::options_description& options, const char* name, uint64_t& seed,
                     std::optional<uint64_t> default_value, const char* help) {
  auto* value = po::value<std::string>()->notifier([&seed, name](const std::string& text) {
    uint64_t parsed = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
    T5_CHECK_HINT(!text.empty() && ec == std::errc() && end == text.data() + text.size(), "use a whole number >= 0",
                  "--{}: '{}' is not a seed in [0, 2^64)", name, text);
    seed = parsed;
  });
  if (default_value) {
    seed = *default_value;
    value->default_value(std::to_string(*default_value));
  } else {
    value->required();
  }
  options.add_options()(name, value, help);
}

void add_threads_option(po::options_description& options, int& threads, const char* help) {
  threads = 0;
  options.add_options()("threads", po::value<int>()->default_value(0)->notifier([&threads](int count) {
    T5_CHECK_HINT(count >= 0, "use 0 for the default, or a count of threads", "--threads must not be negative, got {}",
                  count);
    threads = count;
  }), help);
}

void apply_threads_option(int threads) {
  if (threads > 0) set_num_threads(threads);
}

void check_output_path(const std::string& option, const std::string& path, OutputKind kind) {
  namespace fs = std::filesystem;
  T5_CHECK(!path.empty(), "{}: empty path", option);
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (kind == OutputKind::file) {
    T5_CHECK(!fs::is_directory(status), "{} {}: is a directory (hint: give a file name)", option, path);
    const fs::path parent = fs::path(path).parent_path();
    if (parent.empty()) return;
    T5_CHECK_HINT(fs::is_directory(parent, ec), "create it first", "{} {}: directory '{}' does not exist", option, path,
                  parent.string());
    return;
  }
  T5_CHECK_HINT(!fs::exists(status) || fs::is_directory(status), "choose another directory",
                "{} {}: exists and is not a directory", option, path);
  // The directory and any missing parents will be created: the nearest existing ancestor must be a
  // directory (a file in the way would fail only when the first output is written).
  for (fs::path p = fs::path(path).parent_path(); !p.empty(); p = p.parent_path()) {
    const fs::file_status s = fs::status(p, ec);
    if (!fs::exists(s)) {
      if (p == p.parent_path()) break;
      continue;
    }
    T5_CHECK_HINT(fs::is_directory(s), "choose a path whose parents are directories", "{} {}: '{}' is not a directory",
                  option, path, p.string());
    break;
  }
}

void check_range(const std::string& option, double value, double lo, double hi) {
  if (std::isfinite(value) && value >= lo && value <= hi) return;
  if (std::isinf(hi)) throw Error(fmt::format("{} must be a finite number >= {}, got {}", option, lo, value));
  throw Error(fmt::format("{} must be in [{}, {}], got {}", option, lo, hi, value));
}

void check_positive(const std::string& option, double value) {
  T5_CHECK(std::isfinite(value) && value > 0, "{} must be a finite positive number, got {}", option, value);
}

}  // namespace t5::cli
