// Seeded copy / reverse task (core/synthetic_data.h). Example i is drawn from a splitmix64 stream
// keyed by (seed, i), so any position of the stream is reproducible without replaying it.
#include "core/synthetic_data.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace t5 {

namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class SyntheticSource final : public BatchSource {
 public:
  SyntheticSource(const SyntheticConfig& config, int64_t batch, uint64_t seed)
      : config_(config), batch_(batch), seed_(seed) {
    T5_CHECK(batch > 0, "synthetic data: batch must be positive, got {}", batch);
    T5_CHECK(config.vocab_size > 3, "synthetic data: vocab_size must exceed 3 (pad, eos, unk), got {}",
             config.vocab_size);
    T5_CHECK(config.length > 0, "synthetic data: length must be positive, got {}", config.length);
    if (config_.inputs_length == 0) config_.inputs_length = config.length + 1;
    if (config_.targets_length == 0) config_.targets_length = config.length + 1;
    T5_CHECK(config_.inputs_length > config.length && config_.targets_length > config.length,
             "synthetic data: inputs_length {} and targets_length {} must exceed length {} (room for EOS)",
             config_.inputs_length, config_.targets_length, config.length);
  }

  Batch next() override {
    const int64_t Le = config_.inputs_length, Ld = config_.targets_length, n = config_.length;
    Batch b;
    b.batch = batch_;
    b.inputs_length = Le;
    b.targets_length = Ld;
    b.input_ids.assign(size_t(batch_ * Le), kPadId);
    b.encoder_segment_ids.assign(size_t(batch_ * Le), 0);
    b.decoder_input_ids.assign(size_t(batch_ * Ld), kPadId);
    b.decoder_segment_ids.assign(size_t(batch_ * Ld), 0);
    b.labels.assign(size_t(batch_ * Ld), kPadId);
    std::vector<int32_t> tokens(static_cast<size_t>(n));
    for (int64_t row = 0; row < batch_; ++row, ++example_) {
      uint64_t state = seed_ ^ (0xD1B54A32D192ED03ull * uint64_t(example_ + 1));
      for (auto& t : tokens) t = int32_t(3 + splitmix64(state) % uint64_t(config_.vocab_size - 3));
      int32_t* in = &b.input_ids[size_t(row * Le)];
      std::copy(tokens.begin(), tokens.end(), in);
      in[n] = kEosId;
      std::fill_n(&b.encoder_segment_ids[size_t(row * Le)], n + 1, 1);
      if (config_.task == SyntheticTask::reverse) std::reverse(tokens.begin(), tokens.end());
      int32_t* labels = &b.labels[size_t(row * Ld)];
      std::copy(tokens.begin(), tokens.end(), labels);
      labels[n] = kEosId;
      int32_t* dec = &b.decoder_input_ids[size_t(row * Ld)];
      dec[0] = kDecoderStartId;
      std::copy(labels, labels + n, dec + 1);
      std::fill_n(&b.decoder_segment_ids[size_t(row * Ld)], n + 1, 1);
    }
    return b;
  }

  nlohmann::json position() const override { return {{"example", example_}}; }

  void seek(const nlohmann::json& position) override {
    T5_CHECK(position.is_object() && position.contains("example") && position["example"].is_number_integer() &&
                 position["example"].get<int64_t>() >= 0,
             "synthetic data: a position needs a non-negative integer 'example', got {}", position.dump());
    example_ = position["example"].get<int64_t>();
  }

  std::string describe() const override {
    return fmt::format("synthetic {} task: {} tokens from a vocabulary of {}, inputs {} targets {}, batch {}, seed {}",
                       config_.task == SyntheticTask::copy ? "copy" : "reverse", config_.length,
                       config_.vocab_size, config_.inputs_length, config_.targets_length, batch_, seed_);
  }

 private:
  SyntheticConfig config_;
  int64_t batch_;
  uint64_t seed_;
  int64_t example_ = 0;
};

}  // namespace

std::unique_ptr<BatchSource> make_synthetic_source(const SyntheticConfig& config, int64_t batch, uint64_t seed) {
  return std::make_unique<SyntheticSource>(config, batch, seed);
}

}  // namespace t5
