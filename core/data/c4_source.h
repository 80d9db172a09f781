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
#include <string>

#include "core/batch.h"
#include "core/data/span_corruption.h"

namespace t5 {

enum class BadDataPolicy { skip, stop };   // skip: count, report file:line, go on; stop: t5::Error

struct C4SourceOptions {
  BadDataPolicy on_bad_data = BadDataPolicy::skip;
  int64_t shuffle_window = 10000;   // documents read, then shuffled with a seeded permutation
  int64_t documents_per_group = 0;  // 0 = 128 (T5) or 1000 (HF)
};

std::unique_ptr<BatchSource> make_c4_source(const std::string& corpus_dir_or_file, const std::string& split,
                                            const std::string& tokenizer_model, const SpanCorruptionConfig& config,
                                            int64_t batch, uint64_t seed, const C4SourceOptions& options = {});

// Entropy (nats) of the unigram distribution of label tokens over one pass of `split` under span
// corruption: the loss of the best context-free predictor, a floor any trained model must beat.
double unigram_baseline_nats(const std::string& corpus_dir_or_file, const std::string& split,
                             const std::string& tokenizer_model, const SpanCorruptionConfig& config, uint64_t seed);

}  // namespace t5
