// t5scale batches: the processed examples exactly as the model sees them (input_ids, labels,
// decoder_input_ids, segment ids), optionally decoded to text; --bench measures the pipeline's
// tokens/s (read + tokenize + corrupt + pack) beside the core's training tokens/s and their ratio.
#include <filesystem>
#include <iostream>
#include <optional>

#include "cli/command.h"
#include "core/data/c4_source.h"
#include "core/data/corpus_builder.h"
#include "core/data/pipeline_bench.h"
#include "core/error.h"
#include "core/names.h"

namespace t5::cli {
namespace {

std::vector<int32_t> row_of(const std::vector<int32_t>& v, int64_t row, int64_t length) {
  return std::vector<int32_t>(v.begin() + row * length, v.begin() + (row + 1) * length);
}

// Text of one row's segment s of `ids` (segment ids select the tokens).
std::string decode_segment(const Tokenizer& tok, const std::vector<int32_t>& ids, const std::vector<int32_t>& seg,
                           int32_t s) {
  std::vector<int32_t> picked;
  for (size_t i = 0; i < ids.size(); ++i)
    if (seg[i] == s) picked.push_back(ids[i]);
  return tok.decode(picked);
}

// Pipeline tokens/s and (unless --train-model none) the core's training tokens/s at the same batch
// and lengths, side by side, with their ratio (core/data/pipeline_bench.h).
int run_bench(C4Source& source, int64_t count, std::optional<StepBenchConfig> step, bool json) {
  const DataVsTrainingResult r = run_data_vs_training_bench(source, count, std::move(step));
  if (json) {
    std::cout << to_json(r).dump(2) << "\n";
    return 0;
  }
  const PipelineBenchResult& p = r.pipeline;
  std::cout << fmt::format("pipeline  {:>12.0f} tokens/s  ({} batches in {:.3f} s: read + tokenize + corrupt + pack; "
                           "{:.0f} raw SentencePiece tokens/s, {} documents)\n",
                           p.tokens_per_second, p.batches, p.seconds, p.raw_tokens_per_second, p.documents);
  if (!r.training) return 0;
  const StepBenchResult& t = *r.training;
  std::cout << fmt::format("training  {:>12.0f} tokens/s  ({}, {} optimizer, median step {:.4f} s of {}, {} threads)\n",
                           t.tokens_per_second, t.config.shape.name, t.config.optimizer, t.median_step_seconds,
                           t.step_seconds.size(), t.threads);
  std::cout << fmt::format("ratio     {:>12.1f} x         (tokens = batch {} * (inputs {} + targets {}); required >= {:.0f}x: {})\n",
                           r.ratio, t.config.lengths.batch, t.config.lengths.inputs, t.config.lengths.targets,
                           kRequiredPipelineRatio, r.ratio >= kRequiredPipelineRatio ? "yes" : "NO");
  return 0;
}

int run_batches(const std::vector<std::string>& args) {
  po::options_description opts("t5scale batches --data DIR --tokenizer M --inputs-length L --batch B --count N");
  SpanCorruptionConfig config;
  std::string data, tokenizer, split, mode, on_bad_data;
  int64_t batch = 0, count = 0;
  uint64_t seed = 0;
  std::string train_model;
  StepBenchConfig step;
  opts.add_options()
      ("data", po::value<std::string>(&data)->default_value(default_corpus_dir()), "C4-layout directory or file")
      ("tokenizer", po::value<std::string>(&tokenizer),
       "SentencePiece model (default: DIR/spiece.model when --data is a directory holding one, as for train; "
       "else the shipped corpus/demo model)")
      ("split", po::value<std::string>(&split)->default_value("train"), "train or validation")
      ("inputs-length", po::value<int64_t>(&config.inputs_length)->default_value(128), "encoder tokens per row")
      ("noise-density", po::value<double>(&config.noise_density)->default_value(0.15, "0.15"), "share of tokens masked")
      ("mean-noise-span-length", po::value<double>(&config.mean_noise_span_length)->default_value(3.0), "mean span")
      ("mode", po::value<std::string>(&mode)->default_value("t5"), "t5 (original, packed) or hf (nanoT5)")
      ("batch", po::value<int64_t>(&batch)->default_value(2), "rows per batch")
      ("count", po::value<int64_t>(&count)->default_value(1), "batches (--bench: default 200)")
      ("on-bad-data", po::value<std::string>(&on_bad_data)->default_value("skip"), "skip (count, report) or stop")
      ("json", po::bool_switch(), "one JSON object per batch (JSON lines)")
      ("decode", po::bool_switch(), "show each segment's text")
      ("bench", po::bool_switch(), "time --count batches, then training steps; print both tokens/s and the ratio")
      ("train-model", po::value<std::string>(&train_model)->default_value("t5-efficient-tiny"),
       "--bench: shape whose training steps are timed (none = pipeline only)")
      ("train-steps", po::value<int>(&step.timed_steps)->default_value(3), "--bench: timed training steps (median)")
      ("train-warmup", po::value<int>(&step.warmup_steps)->default_value(1), "--bench: untimed training steps first")
      ("optimizer", po::value<std::string>(&step.optimizer)->default_value("adafactor"), "--bench: adafactor | adamw");
  add_seed_option(opts, "seed", seed, 0, "data seed");
  po::variables_map vm;
  if (!parse_options("batches", args, opts, vm)) return 0;
  T5_CHECK_HINT(mode == "t5" || mode == "hf", "use --mode t5 or --mode hf", "unknown --mode '{}'", mode);
  const BadDataPolicy policy = parse_bad_data_policy(on_bad_data);
  if (vm["bench"].as<bool>() && vm["count"].defaulted()) count = 200;
  T5_CHECK(count > 0, "--count must be positive, got {}", count);
  T5_CHECK(step.timed_steps > 0, "--train-steps must be positive, got {}", step.timed_steps);
  T5_CHECK(step.warmup_steps >= 0, "--train-warmup must not be negative, got {}", step.warmup_steps);
  config.packed = mode == "t5";
  // A corpus built by `data prepare --out DIR` has its own model: reading it with another one would
  // give other ids without any error.
  if (tokenizer.empty()) {
    const std::filesystem::path own = std::filesystem::path(data) / "spiece.model";
    tokenizer = std::filesystem::is_regular_file(own) ? own.string() : default_tokenizer_model();
  }
  C4SourceOptions options;
  options.on_bad_data = policy;
  C4Source source(data, split, tokenizer, config, batch, seed, options);
  // The source's description goes to stderr once batches were made: an error stays one line.
  const bool json = vm["json"].as<bool>(), decode = vm["decode"].as<bool>();
  if (vm["bench"].as<bool>()) {
    T5_CHECK_HINT(step.optimizer == "adamw" || step.optimizer == "adafactor", "use adamw or adafactor",
                  "--optimizer: unknown optimizer '{}'", step.optimizer);
    std::optional<StepBenchConfig> timed;
    if (train_model != "none") {
      step.shape = resolve_shape(train_model);
      step.seed = seed;
      timed = step;
    }
    const int rc = run_bench(source, count, timed, json);
    std::cerr << source.describe() << "\n";
    return rc;
  }
  for (int64_t n = 0; n < count; ++n) {
    const nlohmann::json position = source.position();
    const Batch b = source.next();
    if (json) {
      nlohmann::json rows = nlohmann::json::array();
      for (int64_t r = 0; r < b.batch; ++r) {
        nlohmann::json row = {{"input_ids", row_of(b.input_ids, r, b.inputs_length)},
                              {"encoder_segment_ids", row_of(b.encoder_segment_ids, r, b.inputs_length)},
                              {"decoder_input_ids", row_of(b.decoder_input_ids, r, b.targets_length)},
                              {"decoder_segment_ids", row_of(b.decoder_segment_ids, r, b.targets_length)},
                              {"labels", row_of(b.labels, r, b.targets_length)}};
        if (decode) {
          nlohmann::json segments = nlohmann::json::array();
          const auto es = row_of(b.encoder_segment_ids, r, b.inputs_length);
          const auto ds = row_of(b.decoder_segment_ids, r, b.targets_length);
          for (int32_t s = 1; s <= *std::max_element(es.begin(), es.end()); ++s)
            segments.push_back({{"inputs", decode_segment(source.tokenizer(), row_of(b.input_ids, r, b.inputs_length), es, s)},
                                {"targets", decode_segment(source.tokenizer(), row_of(b.labels, r, b.targets_length), ds, s)}});
          row["decoded"] = segments;
        }
        rows.push_back(row);
      }
      std::cout << nlohmann::json{{"batch", n}, {"position", position}, {"inputs_length", b.inputs_length},
                                  {"targets_length", b.targets_length}, {"rows", rows}}.dump()
                << "\n";
      continue;
    }
    std::cout << fmt::format("batch {} (inputs {} x {}, targets {} x {}), position {}\n", n, b.batch, b.inputs_length,
                             b.batch, b.targets_length, position.dump());
    for (int64_t r = 0; r < b.batch; ++r) {
      const auto es = row_of(b.encoder_segment_ids, r, b.inputs_length);
      const auto ds = row_of(b.decoder_segment_ids, r, b.targets_length);
      std::cout << fmt::format("row {}\n  input_ids           {}\n  encoder_segment_ids {}\n  decoder_input_ids   {}\n"
                               "  decoder_segment_ids {}\n  labels              {}\n",
                               r, fmt::join(row_of(b.input_ids, r, b.inputs_length), " "), fmt::join(es, " "),
                               fmt::join(row_of(b.decoder_input_ids, r, b.targets_length), " "), fmt::join(ds, " "),
                               fmt::join(row_of(b.labels, r, b.targets_length), " "));
      if (!decode) continue;
      for (int32_t s = 1; s <= *std::max_element(es.begin(), es.end()); ++s) {
        std::cout << fmt::format("  segment {} inputs:  {}\n", s,
                                 decode_segment(source.tokenizer(), row_of(b.input_ids, r, b.inputs_length), es, s));
        std::cout << fmt::format("  segment {} targets: {}\n", s,
                                 decode_segment(source.tokenizer(), row_of(b.labels, r, b.targets_length), ds, s));
      }
    }
  }
  std::cerr << source.describe() << "\n";
  std::cerr << bad_data_report("batches", source.stats().bad_data);
  return 0;
}

const Registrar kBatches("batches", "print the span-corrupted batches the model sees (or --bench tokens/s)",
                         run_batches);

}  // namespace
}  // namespace t5::cli
