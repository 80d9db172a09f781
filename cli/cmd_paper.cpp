// t5scale paper [--json] : the paper's standard-size table with the model cards' figures, the
// released variants by sweep and the DeepNarrow comparisons (experiments/paper_tables.h).
#include <iostream>

#include "cli/command.h"
#include "experiments/paper_tables.h"

namespace t5::cli {
namespace {

int run_paper(const std::vector<std::string>& args) {
  po::options_description opts("t5scale paper: the paper's tables beside our exact counts");
  Lengths len;
  add_length_options(opts, len);
  opts.add_options()("json", po::bool_switch(), "print one JSON object");
  po::variables_map vm;
  if (!parse_options("paper", args, opts, vm)) return 0;
  check_lengths(len);
  const nlohmann::json tables = paper_tables(len);
  if (vm["json"].as<bool>())
    std::cout << tables.dump(2) << "\n";
  else
    std::cout << paper_tables_text(tables);
  return 0;
}

const Registrar kPaper("paper", "the paper's size table, sweeps and DeepNarrow comparisons", run_paper);

}  // namespace
}  // namespace t5::cli
