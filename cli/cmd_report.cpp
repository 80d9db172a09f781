// t5scale report results/NAME [--out DIR] : report.md, Pareto frontiers and plots of a sweep.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <unistd.h>

#include "cli/command.h"
#include "cli/paths.h"
#include "core/error.h"
#include "results/report.h"

namespace t5::cli {
namespace {

void warn_torn_lines(const std::vector<int64_t>& torn_lines, const std::string& results_dir) {
  if (!torn_lines.empty())
    std::cerr << fmt::format("t5scale report: warning: {} of {}/runs.jsonl skipped\n", torn_lines_text(torn_lines),
                             results_dir);
}

int run_report(const std::vector<std::string>& args) {
  po::options_description opts("t5scale report RESULTS_DIR [--out DIR]");
  ReportOptions opt;
  opts.add_options()
      ("results", po::value<std::string>(&opt.results_dir)->required(), "a sweep's results directory")
      ("out", po::value<std::string>(&opt.out_dir), "where to write (default: the results directory)")
      ("no-plots", po::bool_switch(), "write report.md and the JSON files only")
      ("summary", po::bool_switch(), "print each run's held-out loss against the unigram baseline; write nothing");
  po::variables_map vm;
  if (!parse_options("report", args, opts, vm, {{"results", 1}})) return 0;
  if (vm["summary"].as<bool>()) {
    T5_CHECK_HINT(opt.out_dir.empty(), "drop --out", "--summary prints to stdout and writes nothing, so --out {} has no use",
                  opt.out_dir);
    const SummaryTable table = summary_table(opt.results_dir);
    warn_torn_lines(table.torn_lines, opt.results_dir);
    std::cout << table.text;
    return 0;
  }
  if (!opt.out_dir.empty()) check_output_path("--out", opt.out_dir, OutputKind::directory);
  if (!vm["no-plots"].as<bool>()) opt.plot_script = plot_script_path();
  if (const char* python = std::getenv("T5SCALE_PYTHON")) opt.python = python;
  const ReportOutput out = write_report(opt);
  warn_torn_lines(out.torn_lines, opt.results_dir);
  if (!out.plot_error.empty())
    std::cerr << fmt::format("t5scale report: warning: no plots: {} (hint: scripts/bootstrap.sh installs "
                             "python3-matplotlib)\n", out.plot_error);
  for (const auto& f : out.files) std::cout << f << "\n";
  return 0;
}

const Registrar kReport("report", "report.md, Pareto frontiers and plots of a sweep's records", run_report);

}  // namespace
}  // namespace t5::cli
