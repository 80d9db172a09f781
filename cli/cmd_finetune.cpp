// t5scale finetune: fine-tune a pretrained (or, for the baseline, freshly initialised) model on one
// text-to-text task, validate by decoding every --eval-every steps, keep the best validation
// checkpoint and score the test split at it (downstream/finetune.h). A thin shell over t5::finetune().
// Ctrl-C / SIGTERM keeps the last finished step (checkpoint) and exits 130; the same command resumes.
#include <filesystem>
#include <iostream>

#include "cli/command.h"
#include "cli/optimizer_options.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/interrupt.h"
#include "core/model.h"
#include "core/names.h"
#include "downstream/finetune.h"
#include "downstream/tasks.h"

namespace t5::cli {
namespace {

namespace fs = std::filesystem;

int run_finetune(const std::vector<std::string>& args) {
  po::options_description opts("t5scale finetune --model CONFIG [--weights DIR] --task NAME --out DIR [options]");
  FinetuneConfig c;
  std::string model_arg, weights, tasks_dir, schedule;
  int threads = 0;
  uint64_t init_seed = 0;
  int64_t warmup = 0;
  opts.add_options()
      ("model", po::value(&model_arg)->required(), "shape name (tiny-nl4) or config.json")
      ("weights", po::value(&weights), "pretrained weights (DIR/model.safetensors or a file); none = random init")
      ("task", po::value(&c.task)->required(), "sentiment | supersense | g2p")
      ("tasks-dir", po::value(&tasks_dir)->default_value("data/tasks"), "prepared tasks (t5scale data prepare --tasks)")
      ("tokenizer", po::value(&c.tokenizer)->required(), "the SentencePiece model the weights were pretrained with")
      ("out", po::value(&c.out_dir)->required(), "run directory: checkpoint, best weights, state, result")
      ("steps", po::value(&c.steps)->default_value(200), "optimizer steps")
      ("batch", po::value(&c.batch)->default_value(16), "examples per step")
      ("inputs-length", po::value(&c.inputs_length)->default_value(64), "encoder tokens (longer inputs are cut)")
      ("targets-length", po::value(&c.targets_length)->default_value(16), "decoder tokens (longer targets are cut)")
      ("schedule", po::value(&schedule)->default_value("constant"), "constant (T5 fine-tuning) | rsqrt | cosine")
      ("lr", po::value(&c.schedule.lr)->default_value(1e-3), "learning rate (T5 fine-tunes at a constant 1e-3)")
      ("warmup", po::value(&warmup)->default_value(0), "warm-up steps")
      ("dropout", po::value(&c.dropout)->default_value(0.1), "dropout rate (T5: 0.1)")
      ("eval-every", po::value(&c.eval_every)->default_value(50), "validate (decode + score) every k steps and at the end")
      ("eval-examples", po::value(&c.max_eval_examples)->default_value(0), "validation examples decoded (0 = all)")
      ("max-length", po::value(&c.generate.max_new_tokens)->default_value(0), "new tokens at most (0 = --targets-length)")
      ("beam", po::value(&c.generate.num_beams)->default_value(1), "beam size of decoding (1 = greedy)")
      ("length-penalty", po::value(&c.generate.length_penalty)->default_value(1.0), "beam search length penalty")
      ("decode-batch", po::value(&c.generate.batch)->default_value(32), "rows decoded together")
      ("progress", po::bool_switch(&c.progress), "progress lines on stderr even when it is not a terminal");
  add_seed_option(opts, "seed", c.seed, 0, "data order and dropout seed");
  add_seed_option(opts, "init-seed", init_seed, 0, "parameter init seed when no --weights are given");
  add_threads_option(opts, threads, "threads (0 = OMP_NUM_THREADS or all cores)");
  add_optimizer_options(opts);
  po::variables_map vm;
  if (!parse_options("finetune", args, opts, vm)) return 0;
  watch_for_interrupts();
  apply_threads_option(threads);
  c.optimizer = optimizer_config_from_options(vm);
  c.schedule.kind = parse_schedule_kind(schedule);
  c.schedule.warmup_steps = warmup;
  T5_CHECK(c.steps > 0, "--steps must be positive, got {}", c.steps);
  T5_CHECK(warmup >= 0, "--warmup must not be negative, got {}", warmup);
  check_lengths({.inputs = c.inputs_length, .targets = c.targets_length, .batch = c.batch});
  T5_CHECK(c.inputs_length >= 2 && c.targets_length >= 2, "--inputs-length and --targets-length must be at least 2");
  T5_CHECK(c.eval_every >= 0, "--eval-every must not be negative, got {}", c.eval_every);
  T5_CHECK(c.max_eval_examples >= 0, "--eval-examples must not be negative, got {}", c.max_eval_examples);
  T5_CHECK(c.generate.max_new_tokens >= 0, "--max-length must not be negative, got {}", c.generate.max_new_tokens);
  T5_CHECK(c.generate.num_beams >= 1, "--beam must be at least 1, got {}", c.generate.num_beams);
  T5_CHECK(c.generate.batch >= 1, "--decode-batch must be at least 1, got {}", c.generate.batch);
  check_positive("--lr", c.schedule.lr);
  T5_CHECK(c.dropout >= 0 && c.dropout < 1, "--dropout must be in [0, 1), got {}", c.dropout);
  task_info(c.task);   // an unknown task is an error before anything is read
  c.task_dir = (fs::path(tasks_dir) / c.task).string();
  for (const char* split : {"train", "validation", "test"}) {
    const fs::path file = fs::path(c.task_dir) / (std::string(split) + ".jsonl");
    T5_CHECK_HINT(fs::is_regular_file(file), "prepare it: t5scale data prepare --tasks " + c.task + " --out " + tasks_dir,
                  "--task {}: {} does not exist", c.task, file.string());
  }
  T5_CHECK(fs::is_regular_file(c.tokenizer), "--tokenizer {}: not a file", c.tokenizer);
  check_output_path("--out", c.out_dir, OutputKind::directory);

  check_finetune_dir(c);
  const Shape shape = resolve_shape(model_arg);
  Model model(shape);
  if (weights.empty()) init_params(model, init_seed);
  else load_hf_weights(model, hf_weights_path(weights));
  std::cerr << fmt::format("finetune {} on {}: {} parameters from {}; {} steps of {} examples, {} lr {}, dropout {}\n",
                           shape.name.empty() ? model_arg : shape.name, c.task, model.num_params(),
                           weights.empty() ? fmt::format("random init (seed {})", init_seed) : weights, c.steps,
                           c.batch, c.optimizer.name, c.schedule.lr, c.dropout);
  FinetuneResult r;
  try {
    r = finetune(model, c);
  } catch (const Interrupted& e) {
    std::cerr << fmt::format("finetune: interrupted at step {}; rerun the same command to resume\n", e.step());
    return kInterruptedExitCode;
  }
  const TaskInfo info = task_info(c.task);
  std::cerr << fmt::format("finetune {}: best validation {} {:.4f} at step {}; test {} {:.4f}\n", c.task,
                           info.primary_metric, r.best_validation.at(info.primary_metric), r.best_step,
                           info.primary_metric, r.test.at(info.primary_metric));
  std::cout << to_json(r).dump() << "\n";
  return 0;
}

const Registrar kFinetune("finetune", "fine-tune on a downstream task, validate by decoding, score the test split",
                          run_finetune);

}  // namespace
}  // namespace t5::cli
