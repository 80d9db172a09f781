// Corpus building for `t5scale data prepare` (see corpus_builder.h).
#include "core/data/corpus_builder.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "core/data/rng.h"
#include "core/data/text_reader.h"
#include "core/data/tokenizer.h"
#include "core/error.h"

namespace t5 {
namespace fs = std::filesystem;

namespace {

// spm_train skips longer lines silently (--max_sentence_length default 4192 bytes).
constexpr size_t kMaxSpmLineBytes = 4000;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// UTF-8 closing quotes ” ’ and ASCII closers may follow the sentence mark.
size_t skip_closers(std::string_view s, size_t i) {
  for (;;) {
    if (i < s.size() && (s[i] == '"' || s[i] == '\'' || s[i] == ')' || s[i] == ']')) {
      ++i;
    } else if (s.substr(i, 3) == "\xE2\x80\x9D" || s.substr(i, 3) == "\xE2\x80\x99") {
      i += 3;
    } else {
      return i;
    }
  }
}

bool starts_sentence(std::string_view s, size_t i) {
  if (i >= s.size()) return false;
  const unsigned char c = static_cast<unsigned char>(s[i]);
  return std::isupper(c) || std::isdigit(c) || c == '"' || c == '(' || s.substr(i, 3) == "\xE2\x80\x9C" ||
         c >= 0xC0;  // a capital outside ASCII (rare): accept
}

bool is_abbreviation(std::string_view before_mark) {
  static const std::set<std::string, std::less<>> kAbbreviations = {
      "Mr", "Mrs", "Ms", "Dr", "St", "Jr", "Sr", "Gen", "Col", "Capt", "Lt", "Gov", "Sen", "Rep", "Hon", "Messrs",
      "No", "Vol", "vs", "etc", "Co", "Inc", "Ltd", "Mt", "Ft", "Prof", "Rev", "viz", "i.e", "e.g", "U.S", "Jan", "Feb",
      "Aug", "Sept", "Oct", "Nov", "Dec"};
  size_t start = before_mark.find_last_of(" \t\n(\"");
  std::string_view word = start == std::string_view::npos ? before_mark : before_mark.substr(start + 1);
  if (word.size() == 1 && std::isupper(static_cast<unsigned char>(word[0]))) return true;   // initials
  return kAbbreviations.count(word) > 0;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = trim(text.substr(start, end - start));
    if (!line.empty()) out.push_back(line);
    start = end + 1;
  }
  return out;
}

void write_gzip_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  gzFile f = gzopen(tmp.c_str(), "wb9");
  T5_CHECK(f != nullptr, "{}: cannot create", tmp);
  const int wrote = content.empty() ? 0 : gzwrite(f, content.data(), unsigned(content.size()));
  const int closed = gzclose(f);
  T5_CHECK(wrote == int(content.size()) && closed == Z_OK, "{}: write failed", tmp);
  fs::rename(tmp, path);
}

void write_text_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << content;
    T5_CHECK(out.good(), "{}: write failed", tmp);
  }
  fs::rename(tmp, path);
}

struct FileFacts {
  int64_t bytes = 0;
  uint32_t crc32 = 0;
};

FileFacts file_facts(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  T5_CHECK(in.good(), "{}: cannot open", path);
  FileFacts f;
  uLong crc = ::crc32(0L, Z_NULL, 0);
  std::vector<char> buf(1 << 16);
  while (in.read(buf.data(), std::streamsize(buf.size())) || in.gcount() > 0) {
    crc = ::crc32(crc, reinterpret_cast<const Bytef*>(buf.data()), uInt(in.gcount()));
    f.bytes += in.gcount();
  }
  f.crc32 = uint32_t(crc);
  return f;
}

// Pseudo C4 timestamp: stable per document, in April 2019 as C4's crawl.
std::string pseudo_timestamp(uint64_t h) {
  return fmt::format("2019-04-{:02}T{:02}:{:02}:{:02}Z", 18 + h % 9, (h >> 8) % 24, (h >> 16) % 60, (h >> 24) % 60);
}

// Shards of one split; returns the report and appends manifest entries.
SplitReport write_split(const std::string& dir, const std::string& split, const std::vector<CorpusDocument>& docs,
                        int64_t shards, nlohmann::json& manifest_files) {
  SplitReport r;
  T5_CHECK(shards > 0, "{} shards must be positive, got {}", split, shards);
  const int64_t n = int64_t(docs.size());
  for (int64_t s = 0; s < shards; ++s) {
    const int64_t begin = n * s / shards, end = n * (s + 1) / shards;
    std::string content;
    for (int64_t i = begin; i < end; ++i) {
      const CorpusDocument& d = docs[size_t(i)];
      nlohmann::json line = {{"text", d.text}, {"timestamp", pseudo_timestamp(fnv1a(d.url))}, {"url", d.url}};
      content += line.dump() + "\n";
      r.text_bytes += int64_t(d.text.size());
    }
    const std::string name = fmt::format("en/c4-{}.{:05}-of-{:05}.json.gz", split, s, shards);
    write_gzip_atomic(dir + "/" + name, content);
    const FileFacts facts = file_facts(dir + "/" + name);
    r.file_bytes += facts.bytes;
    r.files.push_back(name);
    manifest_files.push_back({{"path", name}, {"bytes", facts.bytes}, {"crc32", facts.crc32}, {"documents", end - begin}});
  }
  r.documents = n;
  return r;
}

// spm_train input: the paragraphs of the train documents, long ones as sentences.
std::vector<std::string> spm_lines(const std::vector<CorpusDocument>& docs) {
  std::vector<std::string> lines;
  for (const CorpusDocument& d : docs) {
    for (std::string_view p : split_lines(d.text)) {
      if (p.size() <= kMaxSpmLineBytes) {
        lines.emplace_back(p);
        continue;
      }
      for (std::string& s : split_sentences(p))
        if (s.size() <= kMaxSpmLineBytes) lines.push_back(std::move(s));
    }
  }
  return lines;
}

int64_t count_tokens(const Tokenizer& tok, const std::vector<CorpusDocument>& docs) {
  std::vector<std::string> texts;
  texts.reserve(docs.size());
  for (const auto& d : docs) texts.push_back(d.text);
  int64_t n = 0;
  for (const auto& ids : tok.encode_batch(texts)) n += int64_t(ids.size());
  return n;
}

nlohmann::json split_json(const SplitReport& r) {
  return {{"documents", r.documents}, {"text_bytes", r.text_bytes}, {"file_bytes", r.file_bytes},
          {"tokens", r.tokens}, {"files", r.files}};
}

}  // namespace

int64_t count_words(std::string_view text) {
  int64_t n = 0;
  bool in_word = false;
  for (char c : text) {
    const bool space = is_space(c);
    n += (!space && !in_word) ? 1 : 0;
    in_word = !space;
  }
  return n;
}

std::vector<std::string> split_sentences(std::string_view paragraph) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i < paragraph.size(); ++i) {
    const char c = paragraph[i];
    if (c != '.' && c != '!' && c != '?') continue;
    const size_t after = skip_closers(paragraph, i + 1);
    if (after >= paragraph.size() || paragraph[after] != ' ') continue;
    size_t next = after;
    while (next < paragraph.size() && paragraph[next] == ' ') ++next;
    if (!starts_sentence(paragraph, next)) continue;
    if (c == '.' && is_abbreviation(paragraph.substr(start, i - start))) continue;
    std::string_view sentence = trim(paragraph.substr(start, after - start));
    if (!sentence.empty()) out.emplace_back(sentence);
    start = next;
    i = next - 1;
  }
  std::string_view rest = trim(paragraph.substr(std::min(start, paragraph.size())));
  if (!rest.empty()) out.emplace_back(rest);
  return out;
}

std::vector<CorpusDocument> split_into_documents(const SourceText& source, uint64_t seed, int64_t min_words,
                                                 int64_t max_words) {
  T5_CHECK(0 < min_words && min_words <= max_words, "document words [{}, {}] is not a range", min_words, max_words);
  struct Unit {
    std::string text;
    bool new_paragraph;
    int64_t words;
  };
  std::vector<Unit> units;
  for (std::string_view p : split_lines(source.text)) {
    if (count_words(p) <= max_words) {
      units.push_back({std::string(p), true, count_words(p)});
      continue;
    }
    bool first = true;
    for (std::string& s : split_sentences(p)) {
      const int64_t w = count_words(s);
      units.push_back({std::move(s), first, w});
      first = false;
    }
  }
  data::Rng rng(data::derive_seed({seed, fnv1a(source.url)}));
  auto draw_target = [&] { return min_words + int64_t(rng.uniform(uint64_t(max_words - min_words + 1))); };
  std::vector<CorpusDocument> docs;
  std::string text;
  int64_t words = 0, target = draw_target();
  auto emit = [&] {
    docs.push_back({std::move(text), fmt::format("{}?part={}", source.url, docs.size())});
    text.clear();
    words = 0;
    target = draw_target();
  };
  for (Unit& u : units) {
    if (!text.empty()) text += u.new_paragraph ? '\n' : ' ';
    text += u.text;
    words += u.words;
    if (words >= target) emit();
  }
  // A short tail joins the previous document rather than standing alone.
  if (!text.empty()) {
    if (words < min_words / 3 && !docs.empty()) {
      docs.back().text += '\n';
      docs.back().text += text;
    } else {
      emit();
    }
  }
  return docs;
}

std::vector<SourceText> read_source_texts(const std::string& jsonl_path) {
  std::ifstream in(jsonl_path, std::ios::binary);
  T5_CHECK(in.good(), "{}: cannot open", jsonl_path);
  std::vector<SourceText> out;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (trim(line).empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    T5_CHECK(!j.is_discarded() && j.is_object() && j.contains("url") && j.contains("text") && j["text"].is_string(),
             "{}:{}: expected a JSON object with \"url\" and \"text\"", jsonl_path, line_no);
    out.push_back({j["url"].get<std::string>(), j["text"].get<std::string>()});
  }
  T5_CHECK_HINT(!out.empty(), "check that npm can fetch the packages", "{}: no source texts", jsonl_path);
  return out;
}

nlohmann::json PrepareReport::to_json() const {
  return {{"train", split_json(train)}, {"validation", split_json(validation)}, {"tokenizer", tokenizer},
          {"pieces", pieces}};
}

// Feeds spm_train from memory: no input file, so no temporary path ends up in the model's trainer_spec
// and the model bytes depend on the text alone.
class LineIterator : public sentencepiece::SentenceIterator {
 public:
  explicit LineIterator(const std::vector<std::string>& lines) : lines_(lines) {}
  bool done() const override { return i_ >= lines_.size(); }
  void Next() override { ++i_; }
  const std::string& value() const override { return lines_[i_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<std::string>& lines_;
  size_t i_ = 0;
};

void train_sentencepiece(const std::vector<std::string>& lines, int64_t vocab_size, const std::string& model_path) {
  T5_CHECK(!lines.empty(), "no text to train the SentencePiece model on");
  const std::unordered_map<std::string, std::string> args = {
      {"model_type", "unigram"}, {"vocab_size", std::to_string(vocab_size)}, {"pad_id", "0"}, {"eos_id", "1"},
      {"unk_id", "2"}, {"bos_id", "-1"}, {"character_coverage", "1.0"}, {"num_threads", "1"},
      {"minloglevel", "1"}};   // its INFO log is hundreds of lines of chatter on stderr
  // spm_train draws from a random seed unless given one; one thread keeps the EM sums in one order.
  sentencepiece::SetRandomGeneratorSeed(1);
  LineIterator iterator(lines);
  std::string model;
  const auto status = sentencepiece::SentencePieceTrainer::Train(args, &iterator, &model);
  T5_CHECK_HINT(status.ok(), "lower --vocab-size for a small corpus", "SentencePiece training failed: {}",
                status.ToString());
  const std::string tmp = model_path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out.write(model.data(), std::streamsize(model.size()));
    T5_CHECK(out.good(), "{}: write failed", tmp);
  }
  fs::rename(tmp, model_path);
}

void check_prepare_config(const PrepareConfig& config) {
  T5_CHECK_HINT(config.validation_fraction > 0 && config.validation_fraction < 1, "e.g. 0.05",
                "--validation-fraction must be in (0, 1), got {}", config.validation_fraction);
  T5_CHECK(config.train_shards >= 1, "--train-shards must be at least 1, got {}", config.train_shards);
  T5_CHECK(config.validation_shards >= 1, "--validation-shards must be at least 1, got {}", config.validation_shards);
  T5_CHECK(config.max_documents >= 0, "--max-documents must be 0 (all) or positive, got {}", config.max_documents);
  T5_CHECK_HINT(config.vocab_size >= 0, "0 trains no model; T5 uses 32000", "--vocab-size must not be negative, got {}",
                config.vocab_size);
}

namespace {
// Removes a scratch directory on every way out of the scope, so a failed build leaves no OUT.tmp.
struct ScratchDirectory {
  fs::path path;
  ~ScratchDirectory() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};
}  // namespace

PrepareReport build_corpus(const std::vector<SourceText>& sources, const PrepareConfig& config) {
  check_prepare_config(config);
  T5_CHECK(!sources.empty(), "no source texts");
  // Whole source texts go to validation, chosen by a seeded hash of their url (order-independent).
  std::vector<CorpusDocument> train, validation;
  bool any_validation = false;
  std::vector<bool> held_out(sources.size());
  for (size_t i = 0; i < sources.size(); ++i) {
    data::Rng rng(data::derive_seed({config.seed, fnv1a(sources[i].url), 0x5EED}));
    held_out[i] = rng.uniform01() < config.validation_fraction;
    any_validation = any_validation || held_out[i];
  }
  if (!any_validation) held_out[sources.size() / 2] = true;
  for (size_t i = 0; i < sources.size(); ++i) {
    std::vector<CorpusDocument> docs = split_into_documents(sources[i], config.seed);
    auto& dest = held_out[i] ? validation : train;
    for (auto& d : docs) dest.push_back(std::move(d));
  }
  T5_CHECK(!train.empty(), "all source texts were held out for validation: lower --validation-fraction");
  data::Rng shuffle_train(data::derive_seed({config.seed, 1}));
  shuffle_train.shuffle(std::span<CorpusDocument>(train));
  data::Rng shuffle_validation(data::derive_seed({config.seed, 2}));
  shuffle_validation.shuffle(std::span<CorpusDocument>(validation));
  if (config.max_documents > 0) {
    const double share = config.validation_fraction / (1 - config.validation_fraction);
    train.resize(std::min<size_t>(train.size(), size_t(config.max_documents)));
    validation.resize(
        std::min<size_t>(validation.size(), size_t(std::max<int64_t>(1, int64_t(std::ceil(config.max_documents * share))))));
  }

  // Write everything into OUT.tmp, then swap the finished pieces into OUT.
  const fs::path out(config.out_dir);
  const fs::path tmp = out.string() + ".tmp";
  fs::remove_all(tmp);
  const ScratchDirectory scratch{tmp};
  fs::create_directories(tmp / "en");
  nlohmann::json files = nlohmann::json::array();
  PrepareReport report;
  report.train = write_split(tmp.string(), "train", train, config.train_shards, files);
  report.validation = write_split(tmp.string(), "validation", validation, config.validation_shards, files);
  std::string tokenizer = config.tokenizer.empty() ? (out / "spiece.model").string() : config.tokenizer;
  if (config.vocab_size > 0) {
    const std::string tmp_model = (tmp / "spiece.model").string();
    train_sentencepiece(spm_lines(train), config.vocab_size, tmp_model);
    const Tokenizer tok(tmp_model);
    report.train.tokens = count_tokens(tok, train);
    report.validation.tokens = count_tokens(tok, validation);
    report.pieces = tok.piece_count();
  } else if (fs::exists(tokenizer)) {
    const Tokenizer tok(tokenizer);
    report.train.tokens = count_tokens(tok, train);
    report.validation.tokens = count_tokens(tok, validation);
    report.pieces = tok.piece_count();
  }
  report.tokenizer = tokenizer;
  nlohmann::json manifest = {{"format", "t5scale corpus 1"},
                             {"seed", config.seed},
                             {"validation_fraction", config.validation_fraction},
                             {"source_texts", sources.size()},
                             {"files", files},
                             {"report", report.to_json()},
                             {"provenance", config.provenance}};
  if (config.vocab_size > 0) {
    const FileFacts facts = file_facts((tmp / "spiece.model").string());
    manifest["tokenizer"] = {{"vocab_size", config.vocab_size}, {"bytes", facts.bytes}, {"crc32", facts.crc32}};
  }
  write_text_atomic((tmp / "manifest.json").string(), manifest.dump(2) + "\n");

  fs::create_directories(out);
  fs::remove_all(out / "en");
  fs::rename(tmp / "en", out / "en");
  if (config.vocab_size > 0) {
    if (fs::path(tokenizer).has_parent_path()) fs::create_directories(fs::path(tokenizer).parent_path());
    fs::rename(tmp / "spiece.model", tokenizer);
  }
  fs::rename(tmp / "manifest.json", out / "manifest.json");
  return report;
}

nlohmann::json verify_corpus(const std::string& dir) {
  const std::string manifest_path = dir + "/manifest.json";
  std::ifstream in(manifest_path);
  T5_CHECK_HINT(in.good(), "run 't5scale data prepare' to build it", "{}: no manifest", manifest_path);
  nlohmann::json manifest = nlohmann::json::parse(in, nullptr, false);
  T5_CHECK(!manifest.is_discarded() && manifest.contains("files"), "{}: malformed manifest", manifest_path);
  int64_t documents = 0;
  for (const auto& f : manifest["files"]) {
    const std::string path = dir + "/" + f.at("path").get<std::string>();
    T5_CHECK_HINT(fs::exists(path), "restore it from git or rebuild with 't5scale data prepare'", "{}: missing", path);
    const FileFacts facts = file_facts(path);
    T5_CHECK(facts.bytes == f.at("bytes").get<int64_t>() && facts.crc32 == f.at("crc32").get<uint32_t>(),
             "{}: size or CRC-32 differs from {} (file changed)", path, manifest_path);
    DocumentReader reader({path}, BadDataPolicy::stop);
    Document doc;
    int64_t n = 0;
    while (reader.next(doc)) ++n;
    T5_CHECK(n == f.at("documents").get<int64_t>(), "{}: {} documents, manifest says {}", path, n,
             f.at("documents").get<int64_t>());
    documents += n;
  }
  if (manifest.contains("tokenizer")) {
    const std::string model = dir + "/spiece.model";
    const FileFacts facts = file_facts(model);
    T5_CHECK(facts.bytes == manifest["tokenizer"].at("bytes").get<int64_t>() &&
                 facts.crc32 == manifest["tokenizer"].at("crc32").get<uint32_t>(),
             "{}: size or CRC-32 differs from {}", model, manifest_path);
    const Tokenizer tok(model);
    T5_CHECK(tok.piece_count() == manifest["tokenizer"].at("vocab_size").get<int64_t>(), "{}: {} pieces, expected {}",
             model, tok.piece_count(), manifest["tokenizer"].at("vocab_size").get<int64_t>());
  }
  manifest["verified_documents"] = documents;
  return manifest;
}

}  // namespace t5

namespace t5 {

std::string find_repo_path(const std::string& relative) {
  std::vector<fs::path> roots = {fs::current_path()};
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) roots.insert(roots.end(), {exe.parent_path().parent_path(), exe.parent_path().parent_path().parent_path()});
  for (const fs::path& root : roots)
    if (fs::exists(root / relative)) return (root / relative).lexically_normal().string();
  return {};
}

std::string default_corpus_dir() {
  const std::string dir = find_repo_path("corpus/demo/manifest.json");
  return dir.empty() ? std::string("corpus/demo") : fs::path(dir).parent_path().string();
}

std::string default_tokenizer_model() { return default_corpus_dir() + "/spiece.model"; }

}  // namespace t5
