// t5scale bench --model SHAPE ... : times training steps (forward + backward + optimizer) after a
// warm-up, measures the GEMM ceiling in the same process and prints tokens/s, achieved FLOP/s, MFU,
// the phase split, peak memory against the analytic estimate and the per-component breakdown of the
// median step (core/step_bench.h, core/profile.h).
#include <algorithm>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/cpu_isa.h"
#include "core/describe.h"
#include "core/error.h"
#include "core/names.h"
#include "core/step_bench.h"

namespace t5::cli {
namespace {

// The median step by component: seconds, share of the step and achieved GFLOP/s ("-" where SPEC §3
// counts no matmul work).
void print_breakdown(const StepBenchResult& r) {
  std::cout << fmt::format("\n{:<24}{:>11}{:>11}{:>10}{:>8}{:>9}\n", "component", "forward s", "backward s", "total s",
                           "step %", "GFLOP/s");
  auto seconds = [](bool shown, double s) { return shown ? fmt::format("{:.4f}", s) : std::string("-"); };
  for (const ComponentTime& c : r.breakdown) {
    const bool model = c.component != "optimizer";  // the update has no forward/backward split
    std::cout << fmt::format("{:<24}{:>11}{:>11}{:>10.4f}{:>8.1f}{:>9}\n", c.component, seconds(model, c.forward_seconds),
                             seconds(model, c.backward_seconds), c.seconds, 100.0 * c.share_of_step,
                             c.flops > 0 ? fmt::format("{:.1f}", c.flops_per_second / 1e9) : "-");
  }
  std::cout << fmt::format("{:<24}{:>11}{:>11}{:>10.4f}{:>8.1f}  (forward_backward outside the components)\n", "rest",
                           "", "", r.breakdown_rest_seconds, 100.0 * r.breakdown_rest_seconds / r.median_step_seconds);
}

void print_human(const StepBenchResult& r) {
  const StepBenchConfig& c = r.config;
  const auto [lo, hi] = std::minmax_element(r.step_seconds.begin(), r.step_seconds.end());
  std::cout << fmt::format("{}: batch {}, {}/{} tokens, {}, {}, {} threads, GEMM backend {}\n", c.shape.name,
                           c.lengths.batch, c.lengths.inputs, c.lengths.targets,
                           precision_label(c.precision, r.precision_path), c.optimizer,
                           r.threads, to_string(gemm_backend()));
  std::cout << fmt::format("cpu         {}: {}\n", cpu_model_name(), cpu_summary());
  std::cout << fmt::format("step        {:.4f} s median of {} (min {:.4f}, max {:.4f}) after {} warm-up\n",
                           r.median_step_seconds, r.step_seconds.size(), *lo, *hi, c.warmup_steps);
  std::cout << fmt::format("phases      forward {:.4f} s, backward {:.4f} s, optimizer {:.4f} s\n",
                           r.phases.forward, r.phases.backward, r.phases.optimizer);
  std::cout << fmt::format("throughput  {:.0f} tokens/s (tokens = batch*(inputs+targets) = {} per step), {:.1f} examples/s\n",
                           r.tokens_per_second, r.tokens_per_step, double(c.lengths.batch) / r.median_step_seconds);
  std::cout << fmt::format("achieved    {:.1f} GFLOP/s ({} FLOP per step, exact matmul count of SPEC §3)\n",
                           r.flops_per_second / 1e9, human_count(r.flops_per_step));
  const GemmProbe& best = *std::max_element(r.ceiling.probes.begin(), r.ceiling.probes.end(),
      [](const GemmProbe& a, const GemmProbe& b) { return a.flops_per_second < b.flops_per_second; });
  std::cout << fmt::format("ceiling     {:.1f} GFLOP/s {} GEMM ({} {}x{}x{}, same process) -> MFU {:.1f}%\n",
                           r.ceiling.flops_per_second / 1e9, precision_label(r.ceiling), best.name, best.M,
                           best.N, best.K, 100.0 * r.mfu);
  std::cout << fmt::format("memory      peak RSS {:.1f} MB, analytic training state {:.1f} MB (ratio {:.2f})\n",
                           double(r.peak_rss_bytes) / 1e6, double(r.memory_estimate.training_total_bytes) / 1e6,
                           double(r.peak_rss_bytes) / double(r.memory_estimate.training_total_bytes));
  std::cout << fmt::format("loss        {:.4f} -> {:.4f} over the timed steps\n", r.loss_first, r.loss_last);
  print_breakdown(r);
}

int run_bench(const std::vector<std::string>& args) {
  po::options_description opts("t5scale bench --model SHAPE [options]");
  StepBenchConfig config;
  std::string model, precision, backend;
  opts.add_options()
      ("model", po::value<std::string>(&model)->required(), "shape name (e.g. t5-efficient-tiny) or config.json");
  add_length_options(opts, config.lengths);
  opts.add_options()
      ("precision", po::value<std::string>(&precision)->default_value("fp32"),
       "fp32 | bf16 (bf16 matmul operands; \"bf16 (emulated)\", no faster than fp32, on a CPU without a bf16 matmul)")
      ("optimizer", po::value<std::string>(&config.optimizer)->default_value("adamw"), "adamw | adafactor")
      ("gemm-backend", po::value<std::string>(&backend)->default_value(to_string(gemm_backend())), "onednn | openblas | naive")
      ("warmup", po::value<int>(&config.warmup_steps)->default_value(2), "untimed steps first")
      ("steps", po::value<int>(&config.timed_steps)->default_value(5), "timed steps (the median is reported)");
  add_seed_option(opts, "seed", config.seed, 0, "seed of the weights and the batch");
  add_threads_option(opts, config.threads, "threads (0 = OMP_NUM_THREADS or all cores)");
  opts.add_options()("json", po::bool_switch(), "print one JSON object");
  po::variables_map vm;
  if (!parse_options("bench", args, opts, vm)) return 0;
  check_lengths(config.lengths);
  T5_CHECK(config.timed_steps > 0, "--steps must be positive, got {}", config.timed_steps);
  T5_CHECK(config.warmup_steps >= 0, "--warmup must not be negative, got {}", config.warmup_steps);
  T5_CHECK_HINT(config.optimizer == "adamw" || config.optimizer == "adafactor", "use adamw or adafactor",
                "--optimizer: unknown optimizer '{}'", config.optimizer);
  config.shape = resolve_shape(model);
  check_training_fits_in_memory(model, config.shape, config.lengths,
                                config.optimizer == "adamw" ? OptimizerKind::adamw : OptimizerKind::adafactor);
  config.precision = parse_gemm_precision(precision);
  set_gemm_backend(parse_gemm_backend(backend));
  const StepBenchResult r = run_step_bench(config);
  if (vm["json"].as<bool>())
    std::cout << to_json(r).dump() << "\n";
  else
    print_human(r);
  return 0;
}

const Registrar kBench("bench", "time training steps: tokens/s, FLOP/s, MFU against the GEMM ceiling", run_bench);

}  // namespace
}  // namespace t5::cli
