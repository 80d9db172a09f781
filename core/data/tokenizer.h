// SentencePiece vocabulary with T5's id layout: pad 0, eos 1, unk 2, no bos, and 100 sentinels
// <extra_id_i> = vocab_size - 1 - i appended after the model's pieces (t5.data.SentencePieceVocabulary
// with extra_ids = 100). Works with the real T5 spiece.model and with models `data prepare` trains.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace t5 {

class Tokenizer {
 public:
  explicit Tokenizer(const std::string& model_path);   // throws t5::Error naming the file
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  const std::string& path() const { return path_; }
  int64_t piece_count() const { return piece_count_; }            // 32000 for T5
  int64_t vocab_size() const { return piece_count_ + kExtraIds; }  // 32100 with the sentinels
  int32_t sentinel(int64_t i) const;                              // <extra_id_i> = vocab_size - 1 - i
  int64_t embedding_rows() const;                                 // vocab_size rounded up to 128 (32128)

  std::vector<int32_t> encode(std::string_view text) const;       // no EOS
  // Encodes many documents in parallel (OpenMP over documents); same result as encode() each.
  std::vector<std::vector<int32_t>> encode_batch(const std::vector<std::string>& texts) const;
  // Text of ids; sentinels print as <extra_id_i>, EOS as </s>, pad as <pad> (for --decode).
  std::string decode(std::span<const int32_t> ids) const;

  static constexpr int64_t kExtraIds = 100;

 private:
  std::string path_;
  int64_t piece_count_ = 0;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
};

}  // namespace t5
