// t5scale step: N optimizer steps on one batch file from given weights, printing the loss (of the
// forward pass that computed each step's gradient) and writing the updated weights and, optionally,
// the optimizer state. The parity check of the optimizers on a real model against PyTorch. Progress
// (steps/s, tokens/s, ETA) on stderr through core/progress.h; stdout carries the data only.
#include <filesystem>
#include <iostream>

#include "cli/command.h"
#include "cli/model_inputs.h"
#include "cli/optimizer_options.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/model.h"
#include "core/progress.h"
#include "core/safetensors.h"
#include "core/timing.h"

namespace t5::cli {
namespace {

// Least time between two progress lines when stderr is not a terminal.
constexpr double kProgressSeconds = 5;

int run_step(const std::vector<std::string>& args) {
  po::options_description opts("t5scale step --model SHAPE --weights W --batch B.json --steps N --out W2 [options]");
  std::string model_arg, weights, batch_path, out, state_in, state_out;
  int64_t steps = 1;
  int threads = 0;
  double lr = 0.01;
  opts.add_options()
      ("model", po::value(&model_arg)->required(), "shape name or config.json")
      ("weights", po::value(&weights)->required(), "safetensors weights (or a directory with model.safetensors)")
      ("batch", po::value(&batch_path)->required(), "batch JSON (input_ids, labels, masks; HF semantics)")
      ("steps", po::value(&steps)->default_value(1), "optimizer steps on that batch")
      ("lr", po::value(&lr)->default_value(0.01), "constant learning rate")
      ("out", po::value(&out)->required(), "updated weights (safetensors, HF names)")
      ("state-in", po::value(&state_in), "optimizer state to continue from (a --state-out file)")
      ("state-out", po::value(&state_out), "write the optimizer state (safetensors, '<param>.<slot>' names)")
      ("json", po::bool_switch(), "print one JSON object");
  add_threads_option(opts, threads, "threads (0 = OMP_NUM_THREADS or all cores)");
  add_optimizer_options(opts);
  po::variables_map vm;
  if (!parse_options("step", args, opts, vm)) return 0;
  apply_threads_option(threads);
  T5_CHECK(steps >= 1, "--steps must be at least 1, got {}", steps);
  check_positive("--lr", lr);
  const OptimizerConfig config = optimizer_config_from_options(vm);
  check_output_path("--out", out, OutputKind::file);
  if (vm.count("state-out")) {
    check_output_path("--state-out", state_out, OutputKind::file);
    T5_CHECK(std::filesystem::absolute(state_out) != std::filesystem::absolute(out),
             "--state-out {}: the same file as --out", state_out);
  }

  ModelInputs in = load_model_inputs(model_arg, weights, batch_path);
  Model& model = in.model;
  const Batch& batch = in.batch;
  std::unique_ptr<Optimizer> optimizer = make_optimizer(config, model.table());
  if (!state_in.empty()) {
    const std::vector<Tensor> state = read_safetensors(state_in);   // its errors name the file already
    try {
      optimizer->load_state(state);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: {}", state_in, e.message()), e.hint());
    }
  }

  nlohmann::json records = nlohmann::json::array();
  // Progress on stderr (a redrawn line on a terminal, else a line every few seconds and at the end);
  // tokens as everywhere else: batch x (inputs_length + targets_length) per step.
  StepProgress progress(/*forced=*/true, 0, steps, kProgressSeconds);
  const int64_t tokens_per_step = batch.batch * (batch.inputs_length + batch.targets_length);
  const double start = now_seconds();
  for (int64_t i = 0; i < steps; ++i) {
    model.zero_grads();
    const LossResult r = model.forward_backward(batch);
    optimizer->step(model.params(), model.grads(), lr);
    records.push_back({{"step", optimizer->step_count()},
                       {"loss", r.loss},
                       {"label_tokens", r.label_tokens},
                       {"grad_norm", optimizer->last_grad_norm()},
                       {"lr", lr}});
    progress.update(i + 1, now_seconds() - start, (i + 1) * tokens_per_step, fmt::format("loss {:.4f}", r.loss));
  }
  progress.finish();
  // The weights and the optimizer state are one result: both are written in full before either lands.
  const std::vector<Tensor> weights_out = tensors_from_buffer(model.table(), model.params());
  std::vector<std::pair<std::string, FileFill>> files = {{out, safetensors_fill(out, weights_out)}};
  std::vector<Tensor> state;
  if (!state_out.empty()) {
    state = optimizer->state();
    files.emplace_back(state_out, safetensors_fill(state_out, state));
  }
  write_files_atomic(files);
  if (vm["json"].as<bool>()) {
    std::cout << nlohmann::json{{"optimizer", optimizer_config_to_json(config)}, {"steps", records}}.dump(2) << "\n";
  } else {
    for (const auto& r : records)
      std::cout << fmt::format("step {}  loss {:.8f}  grad_norm {:.6g}  label_tokens {}\n", r["step"].get<int64_t>(),
                               r["loss"].get<double>(), r["grad_norm"].get<double>(), r["label_tokens"].get<int64_t>());
  }
  return 0;
}

const Registrar kStep("step", "N optimizer steps on one batch file (weights and optimizer state out)", run_step);

}  // namespace
}  // namespace t5::cli
