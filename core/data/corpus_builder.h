// Builds t5scale's own C4-layout corpus from public-domain English texts (scripts/fetch_corpus.js
// fetches them): each text is split into C4-sized documents (a few hundred words) at paragraph or
// sentence ends, whole texts are held out for validation, documents are shuffled with a seed and
// written as en/c4-{train,validation}.NNNNN-of-NNNNN.json.gz ({"text", "timestamp", "url"} lines),
// with manifest.json; then a SentencePiece unigram model with T5's id layout is trained on the
// train split. Everything is a function of the texts and the seed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace t5 {

struct SourceText {
  std::string url;    // stable pseudo-url naming the source, e.g. https://t5scale.invalid/sotu/1790_...
  std::string text;   // paragraphs separated by "\n"
};

struct CorpusDocument {
  std::string text;
  std::string url;
};

// Sentence ends: . ! ? (plus closing quotes/brackets) followed by a space and a capital, a digit
// or an opening quote; not after common abbreviations or single initials.
std::vector<std::string> split_sentences(std::string_view paragraph);
int64_t count_words(std::string_view text);

// Documents of a text: paragraphs (or the sentences of a long paragraph) are added until the
// document reaches a word count drawn uniformly from [min_words, max_words].
std::vector<CorpusDocument> split_into_documents(const SourceText& source, uint64_t seed, int64_t min_words = 150,
                                                 int64_t max_words = 600);

// JSON lines {"url", "text", ...} as printed by scripts/fetch_corpus.js.
std::vector<SourceText> read_source_texts(const std::string& jsonl_path);

struct PrepareConfig {
  std::string out_dir;
  uint64_t seed = 0;
  double validation_fraction = 0.05;   // of source texts, held out whole
  int64_t train_shards = 4;
  int64_t validation_shards = 1;
  int64_t max_documents = 0;           // cap on train documents (0 = all); validation scaled alike
  int64_t vocab_size = 32000;          // SentencePiece pieces; 0 = do not train a model
  std::string tokenizer;               // model path written (vocab_size > 0) or used for counting
  nlohmann::json provenance;           // recorded in manifest.json (sources, command)
};

struct SplitReport {
  int64_t documents = 0;
  int64_t text_bytes = 0;   // UTF-8 bytes of the document texts
  int64_t file_bytes = 0;   // bytes of the .json.gz shards
  int64_t tokens = 0;       // SentencePiece tokens (without EOS)
  std::vector<std::string> files;
};

struct PrepareReport {
  SplitReport train, validation;
  std::string tokenizer;
  int64_t pieces = 0;
  nlohmann::json to_json() const;
};

// One line naming the option (--train-shards, --vocab-size, ...) for a setting build_corpus cannot
// use; `data prepare` calls it before fetching anything.
void check_prepare_config(const PrepareConfig& config);

// Writes OUT_DIR/en/*.json.gz and OUT_DIR/manifest.json (into a temporary directory renamed at the
// end, replacing OUT_DIR's en/ and manifest) and trains the tokenizer.
PrepareReport build_corpus(const std::vector<SourceText>& sources, const PrepareConfig& config);

// spm_train --model_type=unigram --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1
// --character_coverage=1.0 on `lines` (sentences or paragraphs, each < 4192 bytes). Atomic.
void train_sentencepiece(const std::vector<std::string>& lines, int64_t vocab_size, const std::string& model_path);

// Re-reads a corpus directory written by build_corpus and checks it against its manifest.json
// (file sizes, CRC-32, document counts). Throws t5::Error naming the first mismatch.
nlohmann::json verify_corpus(const std::string& dir);

}  // namespace t5

namespace t5 {

// The shipped demo corpus (corpus/demo, C4 layout + spiece.model) of this checkout: found from the
// working directory or next to the t5scale binary (build/..). Empty string when not found.
std::string find_repo_path(const std::string& relative);
std::string default_corpus_dir();        // .../corpus/demo
std::string default_tokenizer_model();   // .../corpus/demo/spiece.model

}  // namespace t5
