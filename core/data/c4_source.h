// The training data stream: C4-layout text (or *.jsonl / *.txt files) -> seeded shuffle ->
// SentencePiece -> span corruption (core/data/span_corruption.h) -> packed t5::Batch rows.
// T5 mode (packed): 128 documents tokenized without EOS and concatenated with no separator, cut into
// pieces of tokens_length, each piece masked, EOS appended after trimming, short examples packed
// greedily into rows with segment ids. HF/nanoT5 mode: EOS after every document, 1000-document
// groups cut into fixed rows of tokens_length, remainder dropped, one example per row.
// position()/seek() restore the stream exactly: every random choice is seeded from (seed, epoch,
// window, group, piece), so a position is the reader place of the current group plus an index.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/batch.h"
#include "core/data/span_corruption.h"
#include "core/data/text_reader.h"
#include "core/data/tokenizer.h"

namespace t5 {

struct C4SourceOptions {
  BadDataPolicy on_bad_data = BadDataPolicy::skip;
  int64_t shuffle_window = 10000;   // documents read, then shuffled with a seeded permutation
  int64_t documents_per_group = 0;  // 0 = 128 (T5) or 1000 (HF)
};

// Counters since the source was made (not part of the position).
struct DataStats {
  int64_t documents = 0;          // documents read (and tokenized)
  int64_t raw_tokens = 0;         // SentencePiece tokens of those documents (HF mode: + EOS each)
  int64_t examples = 0;           // span-corrupted examples produced
  int64_t trimmed_examples = 0;   // examples append_eos_after_trim had to cut (float32 counts, rare)
  int64_t rows = 0;               // batch rows emitted
  int64_t dropped_tokens = 0;     // HF mode: group remainders dropped
  BadDataCounts bad_data;
};

class C4Source : public BatchSource {
 public:
  C4Source(const std::string& corpus_dir_or_file, const std::string& split, const std::string& tokenizer_model,
           const SpanCorruptionConfig& config, int64_t batch, uint64_t seed, const C4SourceOptions& options = {});
  ~C4Source() override;
  Batch next() override;
  nlohmann::json position() const override;
  void seek(const nlohmann::json& position) override;
  std::string describe() const override;

  const SpanLengths& lengths() const;
  const Tokenizer& tokenizer() const;
  DataStats stats() const;
  nlohmann::json record() const;   // mode, lengths, files, seed, tokenizer: for run records

  struct Impl;
 private:
  std::unique_ptr<Impl> impl_;
};

std::unique_ptr<BatchSource> make_c4_source(const std::string& corpus_dir_or_file, const std::string& split,
                                            const std::string& tokenizer_model, const SpanCorruptionConfig& config,
                                            int64_t batch, uint64_t seed, const C4SourceOptions& options = {});

// Rows of span-corrupted examples, in order: T5 packing (greedy, segment ids 1, 2, ...; decoder inputs
// restart with 0 per segment; padding 0 with labels kIgnoreLabel) or one example a row (packed = false).
// `consumed` receives how many examples went in.
Batch pack_examples(std::span<const SpanExample> examples, int64_t batch, int64_t inputs_length,
                    int64_t targets_length, bool packed, size_t* consumed = nullptr);

// Entropy (nats) of the unigram distribution of label tokens over one pass of `split` under span
// corruption: the loss of the best context-free predictor, a floor any trained model must beat.
double unigram_baseline_nats(const std::string& corpus_dir_or_file, const std::string& split,
                             const std::string& tokenizer_model, const SpanCorruptionConfig& config, uint64_t seed);

}  // namespace t5
