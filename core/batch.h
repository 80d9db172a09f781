// One batch as the model sees it: token ids, labels and segment ids, row-major [batch, length].
// Segment ids express padding (0) and packing (1, 2, ... per packed example): attention is allowed
// only between equal segment ids (encoder self, cross and decoder self, the latter also causal).
// Relative positions need no reset at segment starts: within a segment key − query is unchanged.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace t5 {

constexpr int32_t kPadId = 0;
constexpr int32_t kEosId = 1;
constexpr int32_t kUnkId = 2;
constexpr int32_t kDecoderStartId = 0;
constexpr int32_t kIgnoreLabel = -100;

struct Batch {
  int64_t batch = 0;
  int64_t inputs_length = 0;    // Le
  int64_t targets_length = 0;   // Ld
  std::vector<int32_t> input_ids;            // [batch, Le]
  std::vector<int32_t> encoder_segment_ids;  // [batch, Le]; 0 = padding
  std::vector<int32_t> decoder_input_ids;    // [batch, Ld]; starts with 0 at every segment
  std::vector<int32_t> decoder_segment_ids;  // [batch, Ld]; 0 = padding
  std::vector<int32_t> labels;               // [batch, Ld]; kIgnoreLabel (or pad in padding) = no loss

  // Tokens that carry loss (label >= 0 and decoder segment != 0).
  int64_t label_tokens() const {
    int64_t n = 0;
    for (size_t i = 0; i < labels.size(); ++i)
      n += (labels[i] != kIgnoreLabel && decoder_segment_ids[i] != 0) ? 1 : 0;
    return n;
  }
};

// Rows [first, first + count) of `b`: a data-parallel rank's slice of a micro-batch (core/trainer.h).
inline Batch batch_rows(const Batch& b, int64_t first, int64_t count) {
  Batch s;
  s.batch = count;
  s.inputs_length = b.inputs_length;
  s.targets_length = b.targets_length;
  const auto rows = [&](const std::vector<int32_t>& v, int64_t length) {
    return std::vector<int32_t>(v.begin() + first * length, v.begin() + (first + count) * length);
  };
  s.input_ids = rows(b.input_ids, b.inputs_length);
  s.encoder_segment_ids = rows(b.encoder_segment_ids, b.inputs_length);
  s.decoder_input_ids = rows(b.decoder_input_ids, b.targets_length);
  s.decoder_segment_ids = rows(b.decoder_segment_ids, b.targets_length);
  s.labels = rows(b.labels, b.targets_length);
  return s;
}

// A stream of batches of one fixed geometry (batch, inputs_length, targets_length). Training and
// evaluation read from it; the data pipeline (span corruption over C4-layout text) and the synthetic
// tasks implement it. position()/seek() make a checkpointed run resume the stream exactly.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual Batch next() = 0;                                  // throws t5::Error on unrecoverable data
  virtual nlohmann::json position() const = 0;               // exact resumable position
  virtual void seek(const nlohmann::json& position) = 0;     // restores a position() value
  virtual std::string describe() const = 0;                  // one line for logs and run records
};

}  // namespace t5
