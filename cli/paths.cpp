#include "cli/paths.h"

#include <cstdlib>
#include <filesystem>

namespace t5::cli {

std::string plot_script_path() {
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("T5SCALE_PLOT_SCRIPT")) return env;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path candidate = exe.parent_path().parent_path() / "plotting" / "plot_report.py";
    if (fs::exists(candidate)) return candidate.string();
  }
  return "plotting/plot_report.py";
}

}  // namespace t5::cli
