// t5scale sweep SPEC [--out results/NAME] [--jobs N] [--dry-run] : trains every variant of a sweep
// spec and appends one record per variant to results/NAME/runs.jsonl (sweeps/runner.h).
#include <iostream>

#include <unistd.h>

#include "cli/command.h"
#include "core/counts.h"
#include "core/describe.h"
#include "core/error.h"
#include "core/ceiling.h"
#include "sweeps/spec.h"

namespace t5::cli {
namespace {

// Fraction of the GEMM ceiling a training step reaches, for --dry-run's time estimate only (the
// real MFU of every run is measured and recorded).
constexpr double kAssumedMfu = 0.3;

int64_t physical_memory_bytes() { return int64_t(::sysconf(_SC_PHYS_PAGES)) * int64_t(::sysconf(_SC_PAGE_SIZE)); }

std::string duration(double seconds) {
  const int64_t s = int64_t(seconds + 0.5);
  return s >= 3600 ? fmt::format("{}h{:02}m", s / 3600, s / 60 % 60) : fmt::format("{}m{:02}s", s / 60, s % 60);
}

void print_dry_run(const SweepSpec& spec, const Expansion& e, double flops_per_second, const std::string& rate_source) {
  const Lengths len = step_lengths(spec.settings);
  std::cout << fmt::format("sweep {}: {} variants ({} skipped); budget {} {}; batch {}, inputs {}, targets {}\n", spec.name,
                           e.variants.size(), e.skipped.size(), human_count(spec.settings.budget.value),
                           to_string(spec.settings.budget.kind), len.batch, len.inputs, len.targets);
  std::cout << fmt::format("time estimate at {:.1f} GFLOP/s ({})\n", flops_per_second / 1e9, rate_source);
  std::cout << fmt::format("{:<30} {:>3} {:>3} {:>5} {:>6} {:>4} {:>4} {:>10} {:>12} {:>10} {:>6} {:>10} {:>9}\n", "id",
                           "el", "dl", "dm", "ff", "kv", "nh", "ffn", "params", "FLOPs/step", "steps", "FLOPs", "est.time");
  double total_flops = 0;
  for (const auto& v : e.variants) {
    const double per_step = count_flops(v.shape, len).train_per_step;
    const double flops = per_step * double(v.steps);
    total_flops += flops;
    const Shape& s = v.shape;
    std::cout << fmt::format("{:<30} {:>3} {:>3} {:>5} {:>6} {:>4} {:>4} {:>10} {:>12} {:>10} {:>6} {:>10} {:>9}\n", v.id,
                             s.el, s.dl, s.dm, s.ff, s.kv, s.nh, to_string(s.feed_forward),
                             with_commas(count_params(s).total), human_count(per_step), v.steps, human_count(flops),
                             duration(flops / flops_per_second));
  }
  std::cout << fmt::format("total: {} training FLOPs, estimated {}\n", human_count(total_flops),
                           duration(total_flops / flops_per_second));
  for (const auto& s : e.skipped) std::cout << fmt::format("skipped {}: {}\n", s.id, s.reason);
}

int run_sweep_command(const std::vector<std::string>& args) {
  po::options_description opts("t5scale sweep SPEC [--out results/NAME] [--jobs N] [--dry-run]");
  std::string spec_path, out;
  double assume_gflops = 0;
  opts.add_options()
      ("spec", po::value<std::string>(&spec_path)->required(), "sweep spec (sweeps/*.json)")
      ("out", po::value<std::string>(&out), "results directory (default results/<spec name>)")
      ("dry-run", po::bool_switch(), "print the variants with params, FLOPs and estimated time; train nothing")
      ("assume-gflops", po::value<double>(&assume_gflops), "--dry-run: training speed in GFLOP/s for the estimate");
  po::variables_map vm;
  if (!parse_options("sweep", args, opts, vm, {{"spec", 1}})) return 0;
  const SweepSpec spec = load_sweep_spec(spec_path);
  ExpandOptions expand_options;
  expand_options.memory_limit_bytes = physical_memory_bytes();
  const Expansion expansion = expand(spec, expand_options);
  if (vm["dry-run"].as<bool>()) {
    double rate = assume_gflops * 1e9;
    std::string source = "--assume-gflops";
    if (rate <= 0) {
      T5_CHECK(!expansion.variants.empty(), "{}: no variant to estimate", spec_path);
      const GemmCeiling g = measure_gemm_ceiling(expansion.variants.back().shape, step_lengths(spec.settings),
                                                 GemmPrecision::fp32);
      rate = kAssumedMfu * g.flops_per_second;
      source = fmt::format("{:.0f}% of a {} GEMM ceiling of {:.1f} GFLOP/s measured now", kAssumedMfu * 100, g.backend,
                           g.flops_per_second / 1e9);
    }
    print_dry_run(spec, expansion, rate, source);
    return 0;
  }
  throw Error("training sweeps need the trainer (core/trainer.h), which this build does not have yet",
              "use --dry-run");
}

const Registrar kSweep("sweep", "train every variant of a sweep spec; records in results/NAME", run_sweep_command);

}  // namespace
}  // namespace t5::cli
