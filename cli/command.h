// Subcommand registry of the t5scale binary. Each cli/cmd_*.cpp defines one command and registers it
// with a static Registrar; main() dispatches. A command is a thin shell over a library call: it
// parses options (Boost.Program_options), calls the library, prints data on stdout (human text by
// default, --json for machines) and chatter on stderr. Errors propagate as t5::Error to main().
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "core/counts.h"

namespace t5::cli {

// args excludes the program and command names. Returns the process exit code.
using CommandFn = std::function<int(const std::vector<std::string>& args)>;

struct Command {
  std::string name;
  std::string summary;
  CommandFn run;
};

std::map<std::string, Command>& registry();

struct Registrar {
  Registrar(std::string name, std::string summary, CommandFn run);
};

// Parses `args` against `options` (and positional names, each taking `max` values; -1 = unlimited).
// Prints usage and returns false when --help was given. Unknown options throw t5::Error.
namespace po = boost::program_options;
bool parse_options(const std::string& command, const std::vector<std::string>& args,
                   po::options_description& options, po::variables_map& vm,
                   const std::vector<std::pair<std::string, int>>& positional = {});

// --batch, --inputs-length, --targets-length (defaults: the paper's 128 examples of 512/114 tokens).
void add_length_options(po::options_description& options, Lengths& lengths);
// Throws t5::Error naming the option when a length is not positive or absurdly large.
void check_lengths(const Lengths& lengths);

// A seed option (--seed, --init-seed): a whole number in [0, 2^64). Boost alone would read "-1" as
// 2^64 - 1; this rejects it, naming the option. Required when `default_value` is absent.
void add_seed_option(po::options_description& options, const char* name, uint64_t& seed,
                     std::optional<uint64_t> default_value, const char* help);

// --threads: compute threads of the process (OpenMP, oneDNN and OpenBLAS all follow it); 0 leaves the
// default (OMP_NUM_THREADS, else every core). A negative count is an error naming the option.
void add_threads_option(po::options_description& options, int& threads, const char* help);
// Sets the count parsed by add_threads_option (nothing for 0).
void apply_threads_option(int threads);

// Checks, before any long work, that an output path can be written, so a run never computes a
// result only to fail on saving it. `file`: `path` is a file whose directory must exist (it is not
// created); `directory`: `path` is, or will be created as, a directory (missing parents too).
// Errors name the option and the path: `--out runs/x.safetensors: directory 'runs' does not exist`.
enum class OutputKind { file, directory };
void check_output_path(const std::string& option, const std::string& path, OutputKind kind);

// The machine's physical memory in bytes.
int64_t physical_memory_bytes();

// Refuses, before anything is allocated, a run whose training estimate (core/counts.h estimate_memory,
// what `info` prints) exceeds the machine's physical memory: one line naming both, not a bad_alloc or
// the kernel's OOM killer half-way.
// `label` names the shape in the message.
void check_training_fits_in_memory(const std::string& label, const Shape& shape, const Lengths& lengths,
                                   OptimizerKind optimizer);

// A finite number in [lo, hi] (either bound may be infinite), else an error naming the option.
void check_range(const std::string& option, double value, double lo, double hi);
void check_positive(const std::string& option, double value);   // finite and > 0

}  // namespace t5::cli
