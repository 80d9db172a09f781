// t5scale init --model SHAPE --seed N --out DIR|FILE.safetensors : freshly initialised weights with the
// Hugging Face init statistics (SPEC.md §4), written as an HF model (weights + config.json); for an sh
// or skv shape, which transformers' T5 cannot express, a t5scale directory of the same form (a note says so).
#include <filesystem>
#include <iostream>

#include "cli/command.h"
#include "core/atomic_file.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/init.h"
#include "core/names.h"

namespace t5::cli {
namespace {

int run_init(const std::vector<std::string>& args) {
  po::options_description opts(
      "t5scale init --model SHAPE --seed N --out DIR|FILE.safetensors\n"
      "  DIR: writes DIR/model.safetensors and DIR/config.json; FILE.safetensors: config.json beside it");
  std::string model, out, dtype;
  uint64_t seed = 0;
  opts.add_options()
      ("model", po::value<std::string>(&model)->required(), "shape name (small-dl4) or config.json")
      ("out", po::value<std::string>(&out)->required(), "output directory or .safetensors file")
      ("dtype", po::value<std::string>(&dtype)->default_value("f32"), "stored dtype: f32 or bf16");
  add_seed_option(opts, "seed", seed, std::nullopt, "random seed");
  po::variables_map vm;
  if (!parse_options("init", args, opts, vm)) return 0;
  T5_CHECK(dtype == "f32" || dtype == "bf16", "--dtype must be f32 or bf16, got '{}'", dtype);
  const bool is_file = out.ends_with(".safetensors") && !std::filesystem::is_directory(out);
  // A FILE.safetensors gets config.json beside it; a DIR gets both inside. Either directory is created.
  check_output_path("--out", is_file ? parent_directory(out) : out, OutputKind::directory);
  const ParamTable table(resolve_shape(model));
  std::vector<float> params(size_t(table.total()));
  init_params(table, params.data(), seed);
  const std::string file_dtype = dtype == "f32" ? "F32" : "BF16";
  if (is_file) {
    save_hf_weights_with_config(table, params.data(), out, file_dtype);
  } else {
    save_hf_model(table, params.data(), out, file_dtype);
  }
  std::cout << fmt::format("{}\t{} parameters\t{} tensors\tseed {}\n", hf_weights_path(out), table.total(),
                           table.params().size(), seed);
  std::string why;
  if (!hf_exportable(table.shape(), &why))
    std::cerr << fmt::format("note: {} is a t5scale model directory, not a transformers one: {}\n", out, why);
  return 0;
}

const Registrar kInit("init", "write freshly initialised weights (HF init statistics)", run_init);

}  // namespace
}  // namespace t5::cli
