// t5scale: one binary, many subcommands (see cli/command.h). Errors become one line on stderr and
// exit code 1; usage errors exit 2.
#include <filesystem>
#include <iostream>
#include <new>
#include <optional>

#include "build_info.h"
#include "cli/command.h"
#include "cluster/mpi.h"
#include "core/error.h"
#include "core/cpu_isa.h"
#include "core/gemm.h"
#include "core/kernels/dispatch.h"

namespace {

// On stdout when asked for (--help), on stderr after a usage error.
void print_usage(std::ostream& out) {
  out << "usage: t5scale <command> [options]   (t5scale <command> --help for details)\n\ncommands:\n";
  for (const auto& [name, cmd] : t5::cli::registry()) out << fmt::format("  {:<10} {}\n", name, cmd.summary);
  out << "\nt5scale --version prints the build, BLAS and oneDNN configuration.\n";
}

std::string kernel_variant_names() {
  std::string names;
  for (const t5::KernelVariant& v : t5::kernel_variants()) names += (names.empty() ? "" : " ") + v.name;
  return names;
}

void print_version() {
  std::cout << fmt::format(
      "t5scale {}\ngit commit: {}\nbuild type: {}\ncompiler: {}\narch: {} ({}; kernel variants: {})\ncpu: {}\n"
      "isa: {}\nOpenBLAS: {}\nOpenBLAS library: {}\noneDNN: {}\nMPI: {}\n",
      T5SCALE_VERSION, T5SCALE_GIT_COMMIT, T5SCALE_BUILD_TYPE, T5SCALE_CXX_COMPILER, T5SCALE_ARCH, T5SCALE_ARCH_FLAGS,
      kernel_variant_names(), t5::cpu_model_name(), t5::cpu_summary(), t5::openblas_config(),
      T5SCALE_OPENBLAS_LIBRARY, t5::onednn_version(), t5::cluster::mpi_library());
}

// A failed filesystem operation (a directory that cannot be created, a rename across devices) is the
// user's environment, not a bug: "PATH: cannot create directories: No such file or directory".
// libstdc++'s what() is "filesystem error: <operation>: <reason> [path1] [path2]".
std::string filesystem_message(const std::filesystem::filesystem_error& e) {
  std::string what = e.what();
  if (const std::string prefix = "filesystem error: "; what.starts_with(prefix)) what.erase(0, prefix.size());
  if (const size_t bracket = what.find(" ["); bracket != std::string::npos) what.erase(bracket);
  std::string paths = e.path1().string();
  if (!e.path2().empty()) paths += " -> " + e.path2().string();
  return paths.empty() ? what : paths + ": " + what;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(std::cerr);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "--version" || name == "version") {
    try {
      print_version();
    } catch (const t5::Error& e) {  // a malformed T5SCALE_MAX_CPU_ISA
      std::cerr << "t5scale --version: error: " << e.what() << "\n";
      return 1;
    }
    return 0;
  }
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(std::cout);
    return 0;
  }
  auto it = t5::cli::registry().find(name);
  if (it == t5::cli::registry().end()) {
    std::cerr << "t5scale: unknown command '" << name << "'\n";
    print_usage(std::cerr);
    return 2;
  }
  // Under mpirun (issue 15) every rank runs this; an error one rank alone meets names its rank and
  // ends the whole job (its peers may be waiting for it in a collective).
  std::optional<t5::cluster::MpiSession> mpi;
  const auto where = [&] {
    return mpi && mpi->size() > 1 ? fmt::format("t5scale {} (rank {} of {})", name, mpi->rank(), mpi->size())
                                  : "t5scale " + name;
  };
  try {
    (void)t5::active_kernels();  // a malformed T5SCALE_MAX_CPU_ISA fails here, before any work
    mpi.emplace();
    if (name != "train") t5::cluster::require_single_process(name);
    return it->second.run(std::vector<std::string>(argv + 2, argv + argc));
  } catch (const t5::cluster::SameOnEveryRank& e) {
    // Every rank raised it before any collective: rank 0 says it once, all end normally.
    const int rank = mpi ? mpi->rank() : t5::cluster::launch_from_environment().rank;
    if (rank == 0) std::cerr << "t5scale " << name << ": error: " << e.what() << "\n";
    return 1;
  } catch (const t5::Error& e) {
    std::cerr << where() << ": error: " << e.what() << "\n";
    if (mpi && mpi->size() > 1) mpi->abort(1);
    return 1;
  } catch (const std::filesystem::filesystem_error& e) {
    std::cerr << where() << ": error: " << filesystem_message(e) << " (hint: check the path and its permissions)\n";
  } catch (const std::bad_alloc&) {
    std::cerr << where()
              << ": error: out of memory (hint: a smaller shape, --batch or --inputs-length; 't5scale info' "
                 "estimates the training memory)\n";
  } catch (const std::exception& e) {
    std::cerr << where() << ": internal error: " << e.what() << "\n";
  }
  if (mpi && mpi->size() > 1) mpi->abort(1);
  return 1;
}
