// t5scale train: one variant on a token stream (synthetic copy/reverse task, or C4 span corruption
// from the data pipeline), with schedule, periodic eval and checkpoints, resume, a progress
// line on stderr and per-step/per-eval records as JSON Lines. A thin shell over t5::train().
// Ctrl-C / SIGTERM checkpoints the last finished step and exits 130 (core/interrupt.h).
// Under `mpirun -np K` the K ranks train one model data-parallel (core/trainer.h TrainConfig::collective,
// cluster/mpi.h); rank 0 alone prints and writes the log, the summary and the checkpoints.
#include <cmath>
#include <filesystem>
#include <iostream>

#include <omp.h>

#include "cli/command.h"
#include "cli/optimizer_options.h"
#include "cluster/mpi.h"
#include "core/checkpoint.h"
#include "core/cpu_isa.h"
#include "core/data/c4_source.h"
#include "core/error.h"
#include "core/interrupt.h"
#include "core/model.h"
#include "core/names.h"
#include "core/synthetic_data.h"
#include "core/trainer.h"
#include "results/records.h"
#include "sweeps/runner.h"

namespace t5::cli {
namespace {

struct DataSources {
  std::unique_ptr<BatchSource> train, eval;
  int64_t targets_length = 0;   // as the data produces it
};

// --data synthetic | synthetic-reverse: the copy/reverse task over `vocab` ids, sequences as long as
// the shorter of the two lengths allows (one position for EOS), padded to both lengths.
// --data DIR: C4 span corruption (T5's packed mode, or HF's with --hf-data), train and validation
// splits; the targets length follows from the inputs length (random_spans_helper).
DataSources make_data(const std::string& data, const std::string& tokenizer, bool hf_mode, const Shape& shape,
                      int64_t micro_batch, int64_t inputs_length, int64_t targets_length, int64_t synthetic_vocab,
                      uint64_t seed, BadDataPolicy on_bad_data) {
  DataSources d;
  if (data == "synthetic" || data == "synthetic-reverse") {
    SyntheticConfig c;
    c.task = data == "synthetic" ? SyntheticTask::copy : SyntheticTask::reverse;
    c.vocab_size = std::min(synthetic_vocab, shape.vocab_size);
    c.length = std::min(inputs_length, targets_length) - 1;
    c.inputs_length = inputs_length;
    c.targets_length = targets_length;
    T5_CHECK(c.length >= 1, "--inputs-length and --targets-length must be at least 2 for synthetic data");
    d.train = make_synthetic_source(c, micro_batch, seed);
    d.eval = make_synthetic_source(c, micro_batch, seed ^ 0x5eedf00dull);   // held out: another stream
    d.targets_length = targets_length;
    return d;
  }
  std::string model = tokenizer;
  if (model.empty()) model = (std::filesystem::path(data) / "spiece.model").string();
  T5_CHECK_HINT(std::filesystem::exists(model), "pass --tokenizer PATH/spiece.model",
                "--data {}: no tokenizer given and {} does not exist", data, model);
  SpanCorruptionConfig sc;
  sc.inputs_length = inputs_length;
  sc.packed = !hf_mode;
  C4SourceOptions options;
  options.on_bad_data = on_bad_data;
  auto train = std::make_unique<C4Source>(data, "train", model, sc, micro_batch, seed, options);
  T5_CHECK_HINT(train->tokenizer().vocab_size() <= shape.vocab_size, "use a model with a larger vocab_size",
                "--tokenizer {}: {} ids do not fit the model's {} embedding rows", model,
                train->tokenizer().vocab_size(), shape.vocab_size);
  d.targets_length = train->lengths().targets_length;   // fixed by the objective
  d.eval = std::make_unique<C4Source>(data, "validation", model, sc, micro_batch, seed, options);
  d.train = std::move(train);
  return d;
}

int run_train(const std::vector<std::string>& args) {
  po::options_description opts("t5scale train --model SHAPE --steps N [options]");
  TrainConfig c;
  std::string model_arg, data, tokenizer, json_out, schedule, weights, precision, on_bad_data;
  int threads = 0;
  int64_t warmup = -1, synthetic_vocab = 64;
  uint64_t init_seed = 0;
  opts.add_options()
      ("model", po::value(&model_arg)->required(), "shape name (small-dl4) or config.json")
      ("weights", po::value(&weights), "start from these weights (safetensors) instead of the init")
      ("steps", po::value(&c.steps)->required(), "optimizer steps")
      ("batch", po::value(&c.batch)->default_value(32), "examples per optimizer step")
      ("grad-accum", po::value(&c.grad_accum)->default_value(1), "micro-batches per step (batch must divide)")
      ("inputs-length", po::value(&c.inputs_length)->default_value(16), "encoder tokens per example")
      ("targets-length", po::value(&c.targets_length)->default_value(16),
       "decoder tokens per example (synthetic; C4 derives it from --inputs-length)")
      ("schedule", po::value(&schedule)->default_value("rsqrt"), "rsqrt (T5) | constant | cosine")
      ("lr", po::value(&c.schedule.lr)->default_value(0.01), "peak learning rate (rsqrt: lr*sqrt(warmup/max(t,warmup)))")
      ("warmup", po::value(&warmup), "warm-up steps (default: T5's 10000 of 524288, scaled to --steps)")
      ("final-fraction", po::value(&c.schedule.final_fraction)->default_value(0.0), "cosine: final lr / peak")
      ("eval-every", po::value(&c.eval_every)->default_value(0), "evaluate every k steps (and at the end)")
      ("eval-batches", po::value(&c.eval_batches)->default_value(4), "held-out batches per evaluation")
      ("checkpoint-every", po::value(&c.checkpoint_every)->default_value(0), "checkpoint every k steps (and at the end)")
      ("checkpoint-dir", po::value(&c.checkpoint_dir), "training checkpoint directory")
      ("resume", po::bool_switch(&c.resume), "continue from the checkpoint in --checkpoint-dir")
      ("data", po::value(&data)->default_value("synthetic"),
       "synthetic | synthetic-reverse | a C4-layout directory (span corruption; e.g. corpus/demo)")
      ("hf-data", po::bool_switch(), "C4: HF/nanoT5 mode (EOS per document, fixed rows) instead of T5 packing")
      ("on-bad-data", po::value<std::string>(&on_bad_data)->default_value("skip"),
       "C4: a malformed line, invalid UTF-8 or truncated gzip: skip (count, report file:line) or stop")
      ("synthetic-vocab", po::value(&synthetic_vocab)->default_value(64), "token ids of the synthetic task")
      ("tokenizer", po::value(&tokenizer), "SentencePiece model for C4 data (default: DIR/spiece.model)")
      ("z-loss", po::value(&c.z_loss)->default_value(0.0), "z-loss coefficient (Mesh TF: 1e-4)")
      ("dropout", po::value(&c.dropout)->default_value(0.0), "dropout rate")
      ("precision", po::value(&precision)->default_value("fp32"),
       "fp32 | bf16 (bf16 matrix products, f32 master weights; evaluation stays fp32)")
      ("progress", po::bool_switch(&c.progress), "progress lines on stderr even when it is not a terminal")
      ("json-out", po::value(&json_out), "write step and eval records as JSON Lines");
  add_seed_option(opts, "seed", c.seed, 0, "data order and dropout seed");
  add_seed_option(opts, "init-seed", init_seed, 0, "parameter init seed");
  add_threads_option(opts, threads, "threads (0 = OMP_NUM_THREADS or all cores)");
  add_optimizer_options(opts);
  cluster::MpiSession* const session = cluster::current_session();
  Collective* const collective = session ? session->collective() : nullptr;
  const int rank = collective ? collective->rank() : 0, ranks = collective ? collective->size() : 1;
  const bool writer = rank == 0;   // of the log, the summary and the checkpoints (the trainer's rule)
  po::variables_map vm;
  BadDataPolicy bad_data_policy{};
  // The command line is every rank's: a mistake in it is one line, from rank 0 (cluster/mpi.h).
  try {
    if (!parse_options("train", args, opts, vm)) return 0;
    bad_data_policy = parse_bad_data_policy(on_bad_data);
    c.optimizer = optimizer_config_from_options(vm);
    c.schedule.kind = parse_schedule_kind(schedule);
    c.precision = parse_precision(precision);
    c.schedule.total_steps = c.steps;
    c.schedule.warmup_steps = warmup >= 0 ? warmup : scaled_warmup(c.steps);
    T5_CHECK(c.steps > 0, "--steps must be positive, got {}", c.steps);
    T5_CHECK(c.batch > 0 && c.grad_accum > 0 && c.batch % c.grad_accum == 0,
             "--batch {} must be a positive multiple of --grad-accum {}", c.batch, c.grad_accum);
    check_lengths({.inputs = c.inputs_length, .targets = c.targets_length, .batch = c.batch});
    T5_CHECK_HINT((c.batch / c.grad_accum) % ranks == 0,
                  "each rank takes an equal slice of every micro-batch: make batch / grad-accum a multiple of the ranks",
                  "--batch {} / --grad-accum {} = {} rows per micro-batch do not split over {} MPI ranks", c.batch,
                  c.grad_accum, c.batch / c.grad_accum, ranks);
    T5_CHECK(!vm.count("warmup") || warmup >= 0, "--warmup must not be negative, got {}", warmup);
    T5_CHECK(c.eval_every >= 0 && c.checkpoint_every >= 0, "--eval-every and --checkpoint-every must not be negative");
    T5_CHECK(c.eval_batches >= 1, "--eval-batches must be at least 1, got {}", c.eval_batches);
    check_positive("--lr", c.schedule.lr);
    check_range("--final-fraction", c.schedule.final_fraction, 0, 1);
    check_range("--z-loss", c.z_loss, 0, INFINITY);
    T5_CHECK(c.dropout >= 0 && c.dropout < 1, "--dropout must be in [0, 1), got {}", c.dropout);
    T5_CHECK(!c.resume || !c.checkpoint_dir.empty(), "--resume needs --checkpoint-dir");
  } catch (const cluster::SameOnEveryRank&) {
    throw;
  } catch (const Error& e) {
    if (ranks > 1) throw cluster::SameOnEveryRank(e.message(), e.hint());
    throw;
  }
  watch_for_interrupts();   // before any compute thread starts, so every one leaves the signals alone
  apply_threads_option(threads);
  if (vm.count("json-out")) check_output_path("--json-out", json_out, OutputKind::file);
  if (vm.count("checkpoint-dir")) check_output_path("--checkpoint-dir", c.checkpoint_dir, OutputKind::directory);
  if (!c.checkpoint_dir.empty() && !c.resume)
    T5_CHECK_HINT(!is_training_checkpoint(c.checkpoint_dir), "pass --resume to continue it, or choose another directory",
                  "--checkpoint-dir {}: already holds a checkpoint", c.checkpoint_dir);
  if (c.resume && !is_training_checkpoint(c.checkpoint_dir) && writer)
    std::cerr << fmt::format("train: --resume: no checkpoint in {} yet; starting at step 0\n", c.checkpoint_dir);

  const Shape shape = resolve_shape(model_arg);
  check_training_fits_in_memory(shape.name.empty() ? model_arg : shape.name, shape,
                                {.inputs = c.inputs_length, .targets = c.targets_length, .batch = c.batch / c.grad_accum},
                                c.optimizer.name == "adamw" ? OptimizerKind::adamw : OptimizerKind::adafactor);
  Model model(shape);
  if (weights.empty()) init_params(model, init_seed);
  else load_hf_weights(model, hf_weights_path(weights));
  DataSources d = make_data(data, tokenizer, vm["hf-data"].as<bool>(), shape, c.batch / c.grad_accum,
                            c.inputs_length, c.targets_length, synthetic_vocab, c.seed, bad_data_policy);
  c.targets_length = d.targets_length;
  c.collective = collective;
  c.progress = c.progress && writer;
  c.announce_resume = writer;
  // The precision as its products run here: "bf16 (emulated)" trains no faster than fp32 (core/gemm.h).
  const GemmPrecision products = gemm_precision(c.precision);
  const std::string parallel = ranks > 1 ? fmt::format("; {} MPI ranks x {} threads", ranks, omp_get_max_threads()) : "";
  if (writer)
    std::cerr << fmt::format("train {}: {} parameters; {}; {} steps of {} examples; {} {} lr {} warmup {}; {}{}\n",
                             shape.name.empty() ? model_arg : shape.name, model.num_params(), d.train->describe(),
                             c.steps, c.batch, c.optimizer.name, to_string(c.schedule.kind), c.schedule.lr,
                             c.schedule.warmup_steps, precision_label(products), parallel);

  // --json-out is a log written as the run goes (a killed run keeps every step it finished), opened
  // at the first record so a run that fails to start leaves no file. A resumed run keeps the lines
  // up to its checkpoint and replaces the rest, so the file always holds the whole run once.
  std::unique_ptr<LineLog> log;
  auto open_log = [&](int64_t resumed_from) {
    if (json_out.empty() || log || !writer) return;
    if (resumed_from > 0) trim_steps_log(json_out, resumed_from);
    log = std::make_unique<LineLog>(json_out, /*truncate=*/resumed_from == 0);
  };
  // Under --on-bad-data skip the bad lines met are reported at the end, as batches does.
  auto report_bad_data = [&] {
    if (!writer) return;   // every rank read the same stream
    for (const auto& [label, source] : {std::pair{"train: training data", d.train.get()},
                                        std::pair{"train: held-out data", d.eval.get()}})
      if (const auto* c4 = dynamic_cast<const C4Source*>(source))
        std::cerr << bad_data_report(label, c4->stats().bad_data);
  };
  TrainResult r;
  try {
    r = train(
        model, *d.train, d.eval.get(), c,
        [&](const StepMetrics& m) {
          open_log(m.step - 1);
          if (log) log->append(step_log_line(m));
        },
        [&](const EvalMetrics& e) {
          open_log(e.step);
          if (log) log->append(eval_log_line(e));
        });
  } catch (const Interrupted& e) {
    // Ctrl-C / SIGTERM: the checkpoint holds the last finished step; --json-out has its steps, no summary.
    const std::string next = !e.saved() ? "nothing saved (no --checkpoint-dir)"
                             : c.resume ? "rerun the same command to resume"
                                        : "rerun the same command with --resume to continue";
    report_bad_data();
    if (writer) std::cerr << fmt::format("train: interrupted at step {}; {}\n", e.step(), next);
    return kInterruptedExitCode;
  }
  report_bad_data();
  int64_t tokens = 0;
  double step_seconds = 0;
  for (const auto& s : r.steps) {
    tokens += s.tokens;
    step_seconds += s.seconds;
  }
  nlohmann::json summary = {{"type", "summary"},
                            {"steps", r.final_step},
                            {"resumed_from", r.resumed_from},
                            {"diverged", r.diverged},
                            {"stop_reason", r.stop_reason},
                            {"final_loss", r.steps.empty() ? nlohmann::json() : nlohmann::json(r.steps.back().loss)},
                            {"eval_loss", r.evals.empty() ? nlohmann::json() : nlohmann::json(r.evals.back().loss)},
                            {"eval_loss_standard_error",
                             r.evals.empty() || !std::isfinite(r.evals.back().loss_standard_error)
                                 ? nlohmann::json()
                                 : nlohmann::json(r.evals.back().loss_standard_error)},
                            {"precision", to_string(c.precision)},
                            {"precision_path", to_string(precision_path(products))},
                            {"cpu_isa", cpu_context()},
                            {"tokens_per_second", step_seconds > 0 ? double(tokens) / step_seconds : 0.0},
                            {"seconds", r.seconds},
                            {"ranks", ranks},
                            {"threads_per_rank", omp_get_max_threads()},
                            {"hosts", session ? session->hostnames() : std::vector<std::string>{}}};
  if (collective && !r.steps.empty()) {
    // What the allreduces cost per training step (the few bytes of the evaluations included).
    const CollectiveStats cost = collective->stats();
    summary["allreduce_bytes_per_step"] = double(cost.bytes) / double(r.steps.size());
    summary["allreduce_seconds_per_step"] = cost.seconds / double(r.steps.size());
  }
  if (!writer) return 0;
  open_log(r.resumed_from);
  if (log) log->append(summary);
  std::cout << summary.dump() << "\n";
  return 0;   // a diverged run is a result (summary.diverged), not a usage error
}

const Registrar kTrain("train", "train one variant (synthetic task or C4), with eval, checkpoints and resume",
                       run_train);

}  // namespace
}  // namespace t5::cli
