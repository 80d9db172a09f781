// SentencePiece wrapper with T5's id layout (t5.data.SentencePieceVocabulary, extra_ids = 100).
#include "core/data/tokenizer.h"

#include <filesystem>

#include <sentencepiece_processor.h>

#include "core/batch.h"
#include "core/error.h"
#include "core/parallel.h"

namespace t5 {

Tokenizer::Tokenizer(const std::string& model_path)
    : path_(model_path), processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  const auto status = processor_->Load(model_path);
  if (!status.ok()) {
    // SentencePiece's own text names its source line ("./src/sentencepiece_processor.cc(1101)
    // [model_proto->ParseFromArray(...)]") or, for an empty file, a missing unk piece.
    std::error_code ec;
    const bool empty = std::filesystem::is_regular_file(model_path, ec) && std::filesystem::file_size(model_path, ec) == 0;
    const std::string text(status.message());
    const std::string why = empty ? "the file is empty"
                            : text.find("ParseFromArray") != std::string::npos ? "the file does not parse as one"
                                                                                : text;
    throw Error(fmt::format("{}: not a SentencePiece model: {}", model_path, why),
                "pass a SentencePiece .model file (corpus/demo/spiece.model ships with t5scale)");
  }
  piece_count_ = processor_->GetPieceSize();
  T5_CHECK_HINT(processor_->pad_id() == kPadId && processor_->eos_id() == kEosId && processor_->unk_id() == kUnkId,
                "train it with --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1 (t5scale data prepare does)",
                "{}: ids pad {}, eos {}, unk {} differ from T5's layout pad 0, eos 1, unk 2", model_path,
                processor_->pad_id(), processor_->eos_id(), processor_->unk_id());
  T5_CHECK(piece_count_ > 3, "{}: model has only {} pieces", model_path, piece_count_);
}

Tokenizer::~Tokenizer() = default;

int32_t Tokenizer::sentinel(int64_t i) const {
  T5_CHECK(i >= 0 && i < kExtraIds, "sentinel index {} outside [0, {})", i, kExtraIds);
  return int32_t(vocab_size() - 1 - i);
}

int64_t Tokenizer::embedding_rows() const { return (vocab_size() + 127) / 128 * 128; }

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  const auto status = processor_->Encode(absl::string_view(text.data(), text.size()), &ids);
  T5_CHECK(status.ok(), "{}: SentencePiece encode failed: {}", path_, status.ToString());
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::vector<std::vector<int32_t>> Tokenizer::encode_batch(const std::vector<std::string>& texts) const {
  std::vector<std::vector<int32_t>> out(texts.size());
  std::vector<int> failed(texts.size(), 0);
  // Documents differ in length by 100x: dynamic scheduling keeps both threads busy. SentencePiece and
  // the allocations may throw: not out of the parallel region.
  FirstException errors;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < int64_t(texts.size()); ++i) errors.run([&] {
    std::vector<int> ids;
    if (!processor_->Encode(absl::string_view(texts[size_t(i)].data(), texts[size_t(i)].size()), &ids).ok()) {
      failed[size_t(i)] = 1;
      return;
    }
    out[size_t(i)].assign(ids.begin(), ids.end());
  });
  errors.rethrow();
  for (size_t i = 0; i < texts.size(); ++i) T5_CHECK(!failed[i], "{}: SentencePiece encode failed on text {}", path_, i);
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  std::vector<int> run;   // consecutive ordinary pieces decode together (spaces come out right)
  auto flush = [&] {
    if (run.empty()) return;
    // DecodeIds drops the word-initial space of a run; keep it after a sentinel.
    if (!out.empty() && processor_->IdToPiece(run[0]).rfind("\xE2\x96\x81", 0) == 0) out += ' ';
    out += processor_->DecodeIds(run);
    run.clear();
  };
  for (int32_t id : ids) {
    if (id >= piece_count_ || id == kPadId || id == kEosId || id < 0) {
      flush();
      if (id == kPadId) out += "<pad>";
      else if (id == kEosId) out += "</s>";
      else if (id >= piece_count_ && id < vocab_size()) out += fmt::format("<extra_id_{}>", vocab_size() - 1 - id);
      else out += fmt::format("<id_{}>", id);
    } else {
      run.push_back(id);
    }
  }
  flush();
  return out;
}

}  // namespace t5
