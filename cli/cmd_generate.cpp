// t5scale generate: greedy decoding or beam search (downstream/generate.h) of given weights on one input
// text or a JSON Lines file of inputs, printing the outputs in input order. A line of --inputs is
// {"inputs": "text"} (tokenized with --tokenizer, EOS appended as T5 tokenization does) or
// {"input_ids": [...]} (used as given); a "targets" key is allowed and ignored, so a task split file
// ({"inputs", "targets"} a line) can be decoded as it is. Every line is read and checked before any
// decoding: a malformed one is one error naming file:line. Progress (examples/s, tok/s of generated
// tokens, ETA) on stderr when there is more than one batch; stdout carries the outputs only.
#include <time.h>

#include <fstream>
#include <iostream>

#include "cli/command.h"
#include "core/checkpoint.h"
#include "core/data/tokenizer.h"
#include "core/gemm.h"
#include "core/error.h"
#include "core/json_file.h"
#include "core/names.h"
#include "core/progress.h"
#include "core/timing.h"
#include "downstream/generate.h"

namespace t5::cli {
namespace {

// Least time between two progress lines when stderr is not a terminal.
constexpr double kProgressSeconds = 5;

// The ids of one --inputs line; `where` is "file:line".
std::vector<int32_t> parse_input_line(const std::string& line, const std::string& where, const Tokenizer* tokenizer,
                                      int64_t vocab_size) {
  const nlohmann::json j = parse_json_text(line, where);
  T5_CHECK(j.is_object(), "{}: expected an object {{\"inputs\": \"text\"}} or {{\"input_ids\": [...]}}", where);
  for (const auto& [key, value] : j.items())
    T5_CHECK(key == "inputs" || key == "input_ids" || key == "targets",
             "{}: unknown key '{}' (expected \"inputs\" or \"input_ids\", and optionally \"targets\")", where, key);
  T5_CHECK(j.contains("inputs") != j.contains("input_ids"), "{}: give exactly one of \"inputs\" and \"input_ids\"",
           where);
  std::vector<int32_t> ids;
  if (j.contains("inputs")) {
    T5_CHECK(j["inputs"].is_string(), "{}: \"inputs\" must be a string", where);
    T5_CHECK_HINT(tokenizer != nullptr, "give --tokenizer SPM (e.g. corpus/demo/spiece.model)",
                  "{}: \"inputs\" is text, which needs --tokenizer", where);
    ids = tokenizer->encode(j["inputs"].get<std::string>());
    ids.push_back(kEosId);
  } else {
    const nlohmann::json& a = j["input_ids"];
    T5_CHECK(a.is_array() && !a.empty(), "{}: \"input_ids\" must be a non-empty array of token ids", where);
    for (size_t k = 0; k < a.size(); ++k) {
      T5_CHECK(a[k].is_number_integer(), "{}: input_ids[{}] is not an integer", where, k);
      const int64_t id = a[k].get<int64_t>();
      T5_CHECK(id >= 0 && id < vocab_size, "{}: input_ids[{}] = {} is outside the vocabulary [0, {})", where, k, id,
               vocab_size);
      ids.push_back(int32_t(id));
    }
  }
  for (size_t k = 0; k < ids.size(); ++k)
    T5_CHECK(ids[k] < vocab_size, "{}: token {} of the text is id {}, outside the model's vocabulary [0, {})", where,
             k, ids[k], vocab_size);
  return ids;
}

std::vector<std::vector<int32_t>> read_inputs_file(const std::string& path, const Tokenizer* tokenizer,
                                                   int64_t vocab_size) {
  std::ifstream in(path);
  T5_CHECK(in.good(), "--inputs {}: cannot open", path);
  std::vector<std::vector<int32_t>> inputs;
  int64_t number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    const std::string where = fmt::format("{}:{}", path, number);
    T5_CHECK(line.find_first_not_of(" \t\r") != std::string::npos, "{}: empty line", where);
    inputs.push_back(parse_input_line(line, where, tokenizer, vocab_size));
  }
  T5_CHECK(in.eof(), "--inputs {}: read error after line {}", path, number);
  T5_CHECK(!inputs.empty(), "--inputs {}: no lines", path);
  return inputs;
}

// Text of generated ids: without the final EOS (T5 decoding's skip of special tokens at the end).
std::string output_text(const Tokenizer& tokenizer, const std::vector<int32_t>& ids) {
  const size_t n = !ids.empty() && ids.back() == kEosId ? ids.size() - 1 : ids.size();
  return tokenizer.decode(std::span<const int32_t>(ids.data(), n));
}

// CPU seconds of the whole process, all threads (user + system): a shared machine stretches wall time
// by however long the other jobs hold the cores, the work done much less.
double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// --bench N: one warm-up decode, N timed ones; the median decode's rate. Outputs of the last decode go
// into --json (the benchmark script compares them with the peer's).
int run_bench(Model& model, const std::vector<std::vector<int32_t>>& inputs, const GenerateOptions& g, int64_t repeats,
              bool json) {
  Generator generator(model);  // buffers kept between the decodes, as a fine-tuning loop keeps them
  std::vector<std::vector<int32_t>> outputs = generator.generate(inputs, g);
  std::vector<double> seconds, cpu_seconds;
  for (int64_t r = 0; r < repeats; ++r) {
    const double t0 = now_seconds(), c0 = process_cpu_seconds();
    outputs = generator.generate(inputs, g);
    seconds.push_back(now_seconds() - t0);
    cpu_seconds.push_back(process_cpu_seconds() - c0);
    std::cerr << fmt::format("generate bench {}/{}: {:.3f} s\n", r + 1, repeats, seconds.back());
  }
  int64_t tokens = 0, input_tokens = 0;
  for (const auto& o : outputs) tokens += int64_t(o.size());
  for (const auto& x : inputs) input_tokens += int64_t(x.size());
  const double med = median(seconds);
  if (json) {
    std::cout << nlohmann::json{{"implementation", "t5scale"},
                                {"threads", num_threads()},
                                {"examples", inputs.size()},
                                {"input_tokens", input_tokens},
                                {"generated_tokens", tokens},
                                {"num_beams", g.num_beams},
                                {"batch", g.batch},
                                {"max_new_tokens", g.max_new_tokens},
                                {"ignore_eos", g.ignore_eos},
                                {"seconds", med},
                                {"seconds_all", seconds},
                                {"cpu_seconds_all", cpu_seconds},
                                {"tokens_per_second", double(tokens) / med},
                                {"output_ids", outputs}}
                     .dump()
              << "\n";
  } else {
    std::cout << fmt::format("generate: {} inputs ({} tokens), {} generated tokens, threads {}: {:.3f} s median of {}, "
                             "{:.0f} generated tokens/s\n",
                             inputs.size(), input_tokens, tokens, num_threads(), med, repeats, double(tokens) / med);
  }
  return 0;
}

int run_generate(const std::vector<std::string>& args) {
  po::options_description opts(
      "t5scale generate --model CONFIG --weights DIR (--input TEXT | --inputs FILE.jsonl) [options]");
  std::string model_arg, weights, input_text, inputs_path, tokenizer_path;
  GenerateOptions g;
  int threads = 0;
  opts.add_options()
      ("model", po::value(&model_arg)->required(), "shape name or config.json")
      ("weights", po::value(&weights)->required(), "safetensors weights (or a directory with model.safetensors)")
      ("input", po::value(&input_text), "one input text (needs --tokenizer; EOS is appended)")
      ("inputs", po::value(&inputs_path),
       "JSON Lines, one {\"inputs\": \"text\"} (needs --tokenizer) or {\"input_ids\": [...]} a line "
       "(\"targets\" allowed and ignored)")
      ("tokenizer", po::value(&tokenizer_path), "SentencePiece model (T5 ids): encodes text inputs, decodes outputs")
      ("max-length", po::value(&g.max_new_tokens)->default_value(32), "new tokens at most per output (EOS included)")
      ("beam", po::value(&g.num_beams)->default_value(1), "beams (1 = greedy)")
      ("length-penalty", po::value(&g.length_penalty)->default_value(1.0),
       "beam: score = sum of log-probabilities / generated length ^ X (HF generate)")
      ("early-stopping", po::bool_switch(&g.early_stopping),
       "beam: an input is done as soon as it has --beam finished hypotheses (HF early_stopping=True)")
      ("batch", po::value(&g.batch)->default_value(32), "inputs decoded together")
      ("json", po::bool_switch(), "one JSON object a line: output_ids (and text with --tokenizer)")
      ("ignore-eos", po::bool_switch(&g.ignore_eos),
       "benchmarks (greedy): every input runs --max-length steps, EOS treated as any token")
      ("bench", po::value<int64_t>()->default_value(0),
       "decode the inputs once to warm up, then N times timed; print the timing (median seconds, "
       "generated tokens/s = generated tokens / wall time of a whole decode, encoder included) instead of outputs");
  add_threads_option(opts, threads, "threads (0 = OMP_NUM_THREADS or all cores)");
  po::variables_map vm;
  if (!parse_options("generate", args, opts, vm)) return 0;
  apply_threads_option(threads);
  T5_CHECK(vm.count("input") + vm.count("inputs") == 1, "give exactly one of --input TEXT and --inputs FILE.jsonl");
  T5_CHECK(g.max_new_tokens >= 1 && g.max_new_tokens <= 65536, "--max-length must be in [1, 65536], got {}",
           g.max_new_tokens);
  T5_CHECK(g.num_beams >= 1 && g.num_beams <= 1024, "--beam must be in [1, 1024], got {}", g.num_beams);
  T5_CHECK(g.batch >= 1, "--batch must be at least 1, got {}", g.batch);
  check_range("--length-penalty", g.length_penalty, -INFINITY, INFINITY);
  const int64_t bench = vm["bench"].as<int64_t>();
  T5_CHECK(bench >= 0, "--bench must not be negative, got {}", bench);
  T5_CHECK(!g.ignore_eos || g.num_beams == 1, "--ignore-eos is for greedy decoding (--beam 1) only");
  T5_CHECK_HINT(vm.count("input") == 0 || vm.count("tokenizer"), "give --tokenizer SPM (e.g. corpus/demo/spiece.model)",
                "--input is text, which needs --tokenizer");

  const Shape shape = resolve_shape(model_arg);
  std::unique_ptr<Tokenizer> tokenizer;
  if (vm.count("tokenizer")) tokenizer = std::make_unique<Tokenizer>(tokenizer_path);
  std::vector<std::vector<int32_t>> inputs;
  if (vm.count("input"))
    inputs.push_back(parse_input_line(nlohmann::json{{"inputs", input_text}}.dump(), "--input", tokenizer.get(),
                                      shape.vocab_size));
  else
    inputs = read_inputs_file(inputs_path, tokenizer.get(), shape.vocab_size);
  Model model(shape);
  load_hf_weights(model, hf_weights_path(weights));

  if (bench > 0) return run_bench(model, inputs, g, bench, vm["json"].as<bool>());
  const int64_t n = int64_t(inputs.size());
  StepProgress progress(/*forced=*/n > g.batch, 0, n, kProgressSeconds, "example");
  const double start = now_seconds();
  g.progress = [&](int64_t done, int64_t, int64_t tokens) { progress.update(done, now_seconds() - start, tokens, ""); };
  const std::vector<std::vector<int32_t>> outputs = generate(model, inputs, g);
  progress.finish();

  const bool json = vm["json"].as<bool>();
  for (const auto& ids : outputs) {
    if (json) {
      nlohmann::json line{{"output_ids", ids}};
      if (tokenizer) line["text"] = output_text(*tokenizer, ids);
      std::cout << line.dump() << "\n";
    } else if (tokenizer) {
      std::cout << output_text(*tokenizer, ids) << "\n";
    } else {
      std::string text;
      for (size_t k = 0; k < ids.size(); ++k) text += (k ? " " : "") + std::to_string(ids[k]);
      std::cout << text << "\n";
    }
  }
  return 0;
}

const Registrar kGenerate("generate", "greedy or beam-search decoding of given weights on input texts or ids",
                          run_generate);

}  // namespace
}  // namespace t5::cli
