// Files the binary uses from the source tree (the plotting script), found next to the executable.
#pragma once

#include <string>

namespace t5::cli {

// plotting/plot_report.py: $T5SCALE_PLOT_SCRIPT, else <dir of t5scale>/../plotting/, else ./plotting/.
std::string plot_script_path();

}  // namespace t5::cli
