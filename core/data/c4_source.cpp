// The span-corruption batch stream over C4-layout text. Original T5 pipeline (t5/data/preprocessors.py
// span_corruption + seqio's EncDecFeatureConverter packing): select_random_chunk (max 65536 tokens),
// reduce_concat_tokens (128 documents, no separator), split_tokens (pieces of tokens_length), denoise,
// append_eos_after_trim, greedy in-order packing. HF mode after nanoT5 / run_t5_mlm_flax.py.
#include "core/data/c4_source.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "core/data/rng.h"
#include "core/error.h"
#include "core/json_file.h"

namespace t5 {
namespace {

constexpr int64_t kMaxChunkTokens = 65536;   // select_random_chunk's max_length in span_corruption
constexpr uint64_t kChunkSalt = 0xC4C4C4C4ull;

// Place of the next document of the shuffled stream.
struct StreamPlace {
  int64_t epoch = 0;
  int64_t window = 0;          // windows counted from the start of the run (all epochs)
  ReaderPlace window_start;    // reader place where this window's documents begin
  int64_t offset = 0;          // documents of the window already taken
};

// Documents in windows of `window_size`, each window permuted by a seeded shuffle. With `repeat`,
// epochs follow each other forever; otherwise next() returns false at the end of the corpus.
class ShuffledDocuments {
 public:
  ShuffledDocuments(std::vector<std::string> files, BadDataPolicy policy, int64_t window_size, uint64_t seed,
                    bool repeat)
      : reader_(std::move(files), policy), window_size_(window_size), seed_(seed), repeat_(repeat) {
    T5_CHECK(window_size_ > 0, "shuffle window must be positive, got {}", window_size_);
  }

  bool next(std::string& text) {
    if (!loaded_ || place_.offset == int64_t(window_.size())) {
      if (loaded_) ++place_.window;
      place_.offset = 0;
      if (!fill_window()) return false;
    }
    text = window_[size_t(place_.offset++)];
    return true;
  }
  const StreamPlace& place() const { return place_; }
  void seek(const StreamPlace& place) {
    place_ = place;
    reader_.seek(place.window_start);
    const int64_t offset = place.offset;
    const bool filled = read_window();
    T5_CHECK(filled && offset <= int64_t(window_.size()), "data position offset {} is past its window of {} documents",
             offset, window_.size());
    place_.offset = offset;
  }
  const DocumentReader& reader() const { return reader_; }
  int64_t documents_read() const { return documents_read_; }

 private:
  // Reads the window at place_.window_start (the reader is already there) and shuffles it.
  bool read_window() {
    window_.clear();
    Document doc;
    while (int64_t(window_.size()) < window_size_ && reader_.next(doc)) window_.push_back(std::move(doc.text));
    documents_read_ += int64_t(window_.size());
    loaded_ = !window_.empty();
    if (loaded_) {
      data::Rng rng(data::derive_seed({seed_, uint64_t(place_.epoch), uint64_t(place_.window)}));
      rng.shuffle(std::span<std::string>(window_));
    }
    return loaded_;
  }
  bool fill_window() {
    place_.window_start = reader_.place();
    if (read_window()) return true;
    // End of the corpus: a new epoch starts from the first file (or the stream ends).
    T5_CHECK_HINT(place_.window_start.file != 0 || place_.window_start.line != 0 || reader_.bad_data().total() > 0,
                  "check the --data path and split", "empty corpus: {} files hold no documents",
                  reader_.files().size());
    T5_CHECK_HINT(place_.window_start.file != 0 || place_.window_start.line != 0,
                  "fix the files or use --on-bad-data skip", "empty corpus: every line of {} files is bad data ({})",
                  reader_.files().size(), reader_.bad_data().first_reports.empty() ? std::string()
                                                                                 : reader_.bad_data().first_reports[0]);
    if (!repeat_) return false;
    ++place_.epoch;
    reader_.seek({0, 0});
    place_.window_start = reader_.place();
    if (read_window()) return true;
    throw Error(fmt::format("empty corpus: {} files hold no documents", reader_.files().size()));
  }

  DocumentReader reader_;
  int64_t window_size_;
  uint64_t seed_;
  bool repeat_;
  StreamPlace place_;
  std::vector<std::string> window_;
  bool loaded_ = false;
  int64_t documents_read_ = 0;
};

}  // namespace

// Span-corrupted examples in stream order; a place is (group start, group index, example index).
class ExampleStream {
 public:
  ExampleStream(const std::vector<std::string>& files, std::shared_ptr<const Tokenizer> tokenizer,
                const SpanCorruptionConfig& config, uint64_t seed, const C4SourceOptions& options, bool repeat)
      : docs_(files, options.on_bad_data, options.shuffle_window, seed, repeat),
        tokenizer_(std::move(tokenizer)),
        config_(config),
        lengths_(span_lengths(config)),
        seed_(seed),
        documents_per_group_(options.documents_per_group > 0 ? options.documents_per_group
                                                              : (config.packed ? 128 : 1000)) {
    T5_CHECK(lengths_.noise_spans < tokenizer_->piece_count(), "{}: {} pieces cannot hold {} sentinels",
             tokenizer_->path(), tokenizer_->piece_count(), lengths_.noise_spans);
  }

  // The current example, or nullptr at the end of a single pass.
  const SpanExample* peek() {
    while (!group_loaded_ || example_ == int64_t(examples_.size())) {
      if (ended_ || !load_group()) return nullptr;
    }
    return &examples_[size_t(example_)];
  }
  void advance() { ++example_; }

  nlohmann::json position() const {
    const StreamPlace& p = group_loaded_ ? group_start_ : docs_.place();
    return {{"epoch", p.epoch},   {"window", p.window},         {"file", p.window_start.file},
            {"line", p.window_start.line}, {"offset", p.offset}, {"group", group_loaded_ ? group_ : next_group_},
            {"example", group_loaded_ ? example_ : 0}};
  }
  void seek(const nlohmann::json& j) {
    StreamPlace p;
    p.epoch = j.at("epoch").get<int64_t>();
    p.window = j.at("window").get<int64_t>();
    p.window_start = {j.at("file").get<int64_t>(), j.at("line").get<int64_t>()};
    p.offset = j.at("offset").get<int64_t>();
    docs_.seek(p);
    next_group_ = j.at("group").get<int64_t>();
    ended_ = false;
    group_loaded_ = false;
    const int64_t example = j.at("example").get<int64_t>();
    if (!load_group() && example == 0) return;
    T5_CHECK(group_loaded_ && example <= int64_t(examples_.size()),
             "data position example {} is past its group of {} examples", example, examples_.size());
    example_ = example;
  }

  const SpanLengths& lengths() const { return lengths_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const DocumentReader& reader() const { return docs_.reader(); }
  DataStats& stats() { return stats_; }
  const DataStats& stats() const { return stats_; }
  int64_t documents_per_group() const { return documents_per_group_; }

 private:
  bool load_group() {
    group_start_ = docs_.place();
    std::vector<std::string> texts;
    std::string text;
    while (int64_t(texts.size()) < documents_per_group_ && docs_.next(text)) texts.push_back(std::move(text));
    if (texts.empty()) {
      ended_ = true;
      group_loaded_ = false;
      return false;
    }
    group_ = next_group_++;
    example_ = 0;
    group_loaded_ = true;
    stats_.documents += int64_t(texts.size());
    std::vector<std::vector<int32_t>> tokens = tokenizer_->encode_batch(texts);
    std::vector<int32_t> stream = config_.packed ? concat_chunks(tokens) : concat_with_eos(tokens);
    stats_.raw_tokens += int64_t(stream.size());
    make_examples(stream);
    return true;
  }

  // select_random_chunk + reduce_concat_tokens: documents longer than 65536 tokens give one random chunk.
  std::vector<int32_t> concat_chunks(const std::vector<std::vector<int32_t>>& tokens) const {
    std::vector<int32_t> stream;
    for (size_t d = 0; d < tokens.size(); ++d) {
      const std::vector<int32_t>& t = tokens[d];
      int64_t start = 0, length = int64_t(t.size());
      if (length > kMaxChunkTokens) {
        const int64_t chunks = (length + kMaxChunkTokens - 1) / kMaxChunkTokens;
        data::Rng rng(data::derive_seed({seed_, kChunkSalt, uint64_t(group_), d}));
        start = int64_t(rng.uniform(uint64_t(chunks))) * kMaxChunkTokens;
        length = std::min(kMaxChunkTokens, length - start);
      }
      stream.insert(stream.end(), t.begin() + start, t.begin() + start + length);
    }
    return stream;
  }
  // nanoT5's tokenize_function: EOS after every document; the group remainder is dropped later.
  static std::vector<int32_t> concat_with_eos(const std::vector<std::vector<int32_t>>& tokens) {
    std::vector<int32_t> stream;
    for (const auto& t : tokens) {
      stream.insert(stream.end(), t.begin(), t.end());
      stream.push_back(kEosId);
    }
    return stream;
  }

  void make_examples(const std::vector<int32_t>& stream) {
    const int64_t T = lengths_.tokens_length;
    const int64_t n = int64_t(stream.size());
    const int64_t pieces = config_.packed ? (n + T - 1) / T : n / T;
    if (!config_.packed) stats_.dropped_tokens += n - pieces * T;
    examples_.clear();
    examples_.reserve(size_t(pieces));
    for (int64_t p = 0; p < pieces; ++p) {
      const int64_t begin = p * T, length = std::min(T, n - begin);
      const std::span<const int32_t> piece(stream.data() + begin, size_t(length));
      const std::vector<uint8_t> mask =
          random_spans_noise_mask(length, config_.noise_density, config_.mean_noise_span_length,
                                  data::derive_seed({seed_, uint64_t(group_), uint64_t(p)}), config_.packed);
      examples_.push_back(apply_sentinels(piece, mask, tokenizer_->sentinel(0), config_.inputs_length,
                                          lengths_.targets_length));
      stats_.trimmed_examples += examples_.back().trimmed ? 1 : 0;
    }
    stats_.examples += pieces;
  }

  ShuffledDocuments docs_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  SpanCorruptionConfig config_;
  SpanLengths lengths_;
  uint64_t seed_;
  int64_t documents_per_group_;
  StreamPlace group_start_;
  int64_t group_ = 0, next_group_ = 0, example_ = 0;
  bool group_loaded_ = false, ended_ = false;
  std::vector<SpanExample> examples_;
  DataStats stats_;
};

struct C4Source::Impl {
  std::string path, split;
  std::vector<std::string> files;
  SpanCorruptionConfig config;
  int64_t batch;
  uint64_t seed;
  C4SourceOptions options;
  std::unique_ptr<ExampleStream> stream;
};

namespace {

// Greedy in-order packing of one row (seqio's trim-and-pack): examples go in while both the
// encoder and the decoder part fit; the decoder input restarts with 0 at every segment.
// HF mode puts one example in a row. `Stream` has peek() (nullptr at the end) and advance().
// Returns the number of segments.
template <typename Stream>
int64_t fill_row(Stream& stream, bool packed, int64_t row, Batch& b) {
  const int64_t Le = b.inputs_length, Ld = b.targets_length;
  int64_t enc = 0, dec = 0, segment = 0;
  for (;;) {
    const SpanExample* ex = stream.peek();
    if (ex == nullptr) break;
    const int64_t ni = int64_t(ex->inputs.size()), nt = int64_t(ex->targets.size());
    if (enc + ni > Le || dec + nt > Ld) break;
    ++segment;
    for (int64_t i = 0; i < ni; ++i) {
      b.input_ids[size_t(row * Le + enc + i)] = ex->inputs[size_t(i)];
      b.encoder_segment_ids[size_t(row * Le + enc + i)] = int32_t(segment);
    }
    for (int64_t i = 0; i < nt; ++i) {
      const size_t at = size_t(row * Ld + dec + i);
      b.labels[at] = ex->targets[size_t(i)];
      b.decoder_input_ids[at] = i == 0 ? kDecoderStartId : ex->targets[size_t(i - 1)];
      b.decoder_segment_ids[at] = int32_t(segment);
    }
    enc += ni;
    dec += nt;
    stream.advance();
    if (!packed) break;
  }
  return segment;
}

Batch empty_batch(int64_t batch, int64_t inputs_length, int64_t targets_length) {
  Batch b;
  b.batch = batch;
  b.inputs_length = inputs_length;
  b.targets_length = targets_length;
  const size_t ne = size_t(batch * inputs_length), nd = size_t(batch * targets_length);
  b.input_ids.assign(ne, kPadId);
  b.encoder_segment_ids.assign(ne, 0);
  b.decoder_input_ids.assign(nd, kPadId);
  b.decoder_segment_ids.assign(nd, 0);
  b.labels.assign(nd, kIgnoreLabel);
  return b;
}

struct SpanStream {
  std::span<const SpanExample> examples;
  size_t next = 0;
  const SpanExample* peek() const { return next < examples.size() ? &examples[next] : nullptr; }
  void advance() { ++next; }
};

}  // namespace

Batch pack_examples(std::span<const SpanExample> examples, int64_t batch, int64_t inputs_length,
                    int64_t targets_length, bool packed, size_t* consumed) {
  Batch b = empty_batch(batch, inputs_length, targets_length);
  SpanStream stream{examples};
  for (int64_t r = 0; r < batch; ++r) fill_row(stream, packed, r, b);
  if (consumed != nullptr) *consumed = stream.next;
  return b;
}

C4Source::C4Source(const std::string& corpus_dir_or_file, const std::string& split, const std::string& tokenizer_model,
                   const SpanCorruptionConfig& config, int64_t batch, uint64_t seed, const C4SourceOptions& options)
    : impl_(std::make_unique<Impl>()) {
  T5_CHECK(batch > 0, "batch must be positive, got {}", batch);
  impl_->path = corpus_dir_or_file;
  impl_->split = split;
  impl_->files = list_corpus_files(corpus_dir_or_file, split);
  impl_->config = config;
  impl_->batch = batch;
  impl_->seed = seed;
  impl_->options = options;
  impl_->stream = std::make_unique<ExampleStream>(impl_->files, std::make_shared<const Tokenizer>(tokenizer_model),
                                                  config, seed, options, /*repeat=*/true);
}

C4Source::~C4Source() = default;

Batch C4Source::next() {
  Batch b = empty_batch(impl_->batch, impl_->config.inputs_length, impl_->stream->lengths().targets_length);
  for (int64_t r = 0; r < b.batch; ++r) {
    const int64_t segments = fill_row(*impl_->stream, impl_->config.packed, r, b);
    T5_CHECK(segments > 0, "{}: an example does not fit a row of {} / {} tokens", impl_->path, b.inputs_length,
             b.targets_length);
  }
  impl_->stream->stats().rows += b.batch;
  return b;
}

nlohmann::json C4Source::position() const {
  nlohmann::json p = impl_->stream->position();
  p["mode"] = impl_->config.mode();
  p["seed"] = impl_->seed;
  p["inputs_length"] = impl_->config.inputs_length;
  p["files"] = impl_->files.size();
  return p;
}

void C4Source::seek(const nlohmann::json& position) {
  try {
    T5_CHECK_HINT(position.at("mode") == impl_->config.mode() && position.at("seed") == impl_->seed &&
                      position.at("inputs_length") == impl_->config.inputs_length &&
                      position.at("files") == impl_->files.size(),
                  "resume with the data settings the checkpoint was written with",
                  "data position {} was recorded with other data settings than {}", position.dump(), describe());
    impl_->stream->seek(position);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("data position is malformed: {}", json_error_text(e.what())));
  }
}

std::string C4Source::describe() const {
  const SpanLengths& len = impl_->stream->lengths();
  return fmt::format(
      "c4 span corruption ({} mode) {} [{}] {} files, tokenizer {} ({} pieces), inputs {} targets {} tokens_length {} "
      "noise {} mean span {}, batch {}, seed {}",
      impl_->config.mode(), impl_->path, impl_->split, impl_->files.size(), impl_->stream->tokenizer().path(),
      impl_->stream->tokenizer().piece_count(), impl_->config.inputs_length, len.targets_length, len.tokens_length,
      impl_->config.noise_density, impl_->config.mean_noise_span_length, impl_->batch, impl_->seed);
}

const SpanLengths& C4Source::lengths() const { return impl_->stream->lengths(); }
const Tokenizer& C4Source::tokenizer() const { return impl_->stream->tokenizer(); }

DataStats C4Source::stats() const {
  DataStats s = impl_->stream->stats();
  s.bad_data = impl_->stream->reader().bad_data();
  return s;
}

nlohmann::json C4Source::record() const {
  const SpanLengths& len = lengths();
  return {{"mode", impl_->config.mode()},
          {"data", impl_->path},
          {"split", impl_->split},
          {"files", impl_->files.size()},
          {"tokenizer", tokenizer().path()},
          {"pieces", tokenizer().piece_count()},
          {"inputs_length", impl_->config.inputs_length},
          {"targets_length", len.targets_length},
          {"tokens_length", len.tokens_length},
          {"noise_density", impl_->config.noise_density},
          {"mean_noise_span_length", impl_->config.mean_noise_span_length},
          {"documents_per_group", impl_->stream->documents_per_group()},
          {"shuffle_window", impl_->options.shuffle_window},
          {"batch", impl_->batch},
          {"seed", impl_->seed}};
}

std::unique_ptr<BatchSource> make_c4_source(const std::string& corpus_dir_or_file, const std::string& split,
                                            const std::string& tokenizer_model, const SpanCorruptionConfig& config,
                                            int64_t batch, uint64_t seed, const C4SourceOptions& options) {
  return std::make_unique<C4Source>(corpus_dir_or_file, split, tokenizer_model, config, batch, seed, options);
}

double unigram_baseline_nats(const std::string& corpus_dir_or_file, const std::string& split,
                             const std::string& tokenizer_model, const SpanCorruptionConfig& config, uint64_t seed) {
  ExampleStream stream(list_corpus_files(corpus_dir_or_file, split), std::make_shared<const Tokenizer>(tokenizer_model),
                       config, seed, C4SourceOptions{}, /*repeat=*/false);
  std::map<int32_t, int64_t> counts;
  int64_t total = 0;
  for (const SpanExample* ex = stream.peek(); ex != nullptr; stream.advance(), ex = stream.peek()) {
    for (int32_t id : ex->targets) ++counts[id];
    total += int64_t(ex->targets.size());
  }
  T5_CHECK(total > 0, "{}: no {} examples for the unigram baseline", corpus_dir_or_file, split);
  double entropy = 0;
  for (const auto& [id, c] : counts) {
    const double p = double(c) / double(total);
    entropy -= p * std::log(p);
  }
  return entropy;
}

}  // namespace t5
