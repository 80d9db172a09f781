// t5scale loss: one forward/backward pass of given weights on one batch file (HF semantics,
// core/hf_batch.h), printing the loss, the label token count, the global gradient norm and every
// parameter's gradient norm by HF name, and optionally writing every gradient under its HF name
// (tied: the one `shared.weight` gradient). The command-line face of the PyTorch parity check
// (tests/cmd_loss_test.cpp against tests/reference/t5_reference.py).
#include <algorithm>
#include <cmath>
#include <iostream>

#include "cli/command.h"
#include "cli/model_inputs.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/optimizer.h"
#include "core/safetensors.h"

namespace t5::cli {
namespace {

int run_loss(const std::vector<std::string>& args) {
  po::options_description opts("t5scale loss --model SHAPE|config.json --weights W --batch B.json [options]");
  std::string model_arg, weights, batch_path, grads_out;
  double z_loss = 0.0;
  opts.add_options()
      ("model", po::value(&model_arg)->required(), "shape name or config.json")
      ("weights", po::value(&weights)->required(), "safetensors weights (or a directory with model.safetensors)")
      ("batch", po::value(&batch_path)->required(),
       "batch JSON: input_ids, labels (-100 = ignored), optional attention_mask, decoder_input_ids, "
       "decoder_attention_mask (HF T5ForConditionalGeneration semantics)")
      ("z-loss", po::value(&z_loss)->default_value(0.0),
       "z-loss coefficient (Mesh TF: 1e-4); gradients are then of loss + z-loss")
      ("grads-out", po::value(&grads_out), "write every gradient (safetensors, HF names)")
      ("json", po::bool_switch(), "print one JSON object");
  po::variables_map vm;
  if (!parse_options("loss", args, opts, vm)) return 0;
  check_range("--z-loss", z_loss, 0, INFINITY);
  if (vm.count("grads-out")) check_output_path("--grads-out", grads_out, OutputKind::file);

  ModelInputs in = load_model_inputs(model_arg, weights, batch_path);
  ForwardOptions fo;
  fo.z_loss = z_loss;
  const LossResult r = in.model.forward_backward(in.batch, fo);
  const std::vector<Tensor> grads = gradients_as_tensors(in.model);
  if (!grads_out.empty()) write_safetensors(grads_out, grads);

  nlohmann::json norms = nlohmann::json::array();
  for (const Tensor& g : grads)
    norms.push_back({{"name", g.name}, {"grad_norm", global_norm(g.data.data(), int64_t(g.data.size()))}});
  const double grad_norm = global_norm(in.model.grads(), in.model.num_params());
  if (vm["json"].as<bool>()) {
    std::cout << nlohmann::json{{"loss", r.loss},         {"z_loss", r.z_loss},     {"z_loss_coef", z_loss},
                                {"label_tokens", r.label_tokens}, {"grad_norm", grad_norm}, {"parameters", norms}}
                     .dump(2)
              << "\n";
    return 0;
  }
  std::cout << fmt::format("loss {:.8f}  label_tokens {}  grad_norm {:.8g}", r.loss, r.label_tokens, grad_norm);
  if (z_loss > 0) std::cout << fmt::format("  z_loss {:.8g}", r.z_loss);
  std::cout << "\n";
  size_t name_width = 0;   // one column of norms, whatever the longest name (a relative-bias table's)
  for (const Tensor& g : grads) name_width = std::max(name_width, g.name.size());
  for (const auto& n : norms)
    std::cout << fmt::format("{:<{}} {:.8g}\n", n["name"].get<std::string>(), name_width, n["grad_norm"].get<double>());
  return 0;
}

const Registrar kLoss("loss", "loss, gradient norms and gradients of given weights on one batch file", run_loss);

}  // namespace
}  // namespace t5::cli
