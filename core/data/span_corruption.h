// T5's span-corruption objective, exactly as the original (t5.data.preprocessors, seqio):
// random_spans_helper (lengths), random_spans_noise_mask (float32 counts, uniform random
// compositions, non-noise first and noise last), noise_span_to_unique_sentinel /
// nonnoise_span_to_unique_sentinel, append_eos_after_trim. SPEC.md §6 has the check values.
// The HF/nanoT5 variant (DataCollatorForT5MLM: float64 counts, spans from min(noise, non-noise))
// is selected with `packed = false` and recorded as mode "hf".
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace t5 {

constexpr int64_t kMaxSentinels = 100;   // <extra_id_0> ... <extra_id_99>

struct SpanCorruptionConfig {
  int64_t inputs_length = 512;
  double noise_density = 0.15;
  double mean_noise_span_length = 3.0;
  bool packed = true;   // true: original T5 (128 documents concatenated, packing); false: HF/nanoT5 mode
  std::string mode() const { return packed ? "t5" : "hf"; }
};

// random_spans_helper: the largest raw piece length whose corrupted inputs (+ EOS) fit inputs_length.
struct SpanLengths {
  int64_t tokens_length = 0;    // raw tokens per piece (T)
  int64_t inputs_length = 0;    // T - noise + spans + 1 (<= requested inputs length)
  int64_t targets_length = 0;   // noise + spans + 1
  int64_t noise_tokens = 0;     // of a full piece
  int64_t noise_spans = 0;      // of a full piece = sentinels used
};
// Throws t5::Error for settings outside (0, 1) density, mean < 1, inputs_length < 2, or needing
// more than kMaxSentinels sentinels.
SpanLengths random_spans_helper(int64_t inputs_length, double noise_density, double mean_noise_span_length);
SpanLengths span_lengths(const SpanCorruptionConfig& config);

// Noise tokens and spans of a piece of `length` tokens as the mask function computes them:
// float32 arithmetic in the original (float32_counts), float64 + min(noise, non-noise) in HF mode.
struct NoiseCounts {
  int64_t noise_tokens = 0;
  int64_t noise_spans = 0;
};
NoiseCounts noise_counts(int64_t length, double noise_density, double mean_noise_span_length, bool float32_counts);

// random_spans_noise_mask: 1 = noise. Starts with non-noise, ends with noise (before the cut to
// `length` for length 1). Deterministic in `seed`.
std::vector<uint8_t> random_spans_noise_mask(int64_t length, double noise_density, double mean_noise_span_length,
                                             uint64_t seed, bool float32_counts = true);

struct SpanExample {
  std::vector<int32_t> inputs;    // non-noise tokens, one sentinel per noise span, EOS
  std::vector<int32_t> targets;   // sentinel, span tokens, sentinel, ..., EOS
  bool trimmed = false;           // append_eos_after_trim cut tokens to fit
};
// Sentinel replacement (first sentinel id = vocab_size - 1, counting down) and EOS after trimming
// inputs to inputs_length and targets to targets_length.
SpanExample apply_sentinels(std::span<const int32_t> tokens, std::span<const uint8_t> noise_mask,
                            int32_t first_sentinel, int64_t inputs_length, int64_t targets_length);

}  // namespace t5
