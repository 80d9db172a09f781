// Span corruption after t5/data/preprocessors.py (random_spans_helper, random_spans_noise_mask,
// noise_span_to_unique_sentinel, nonnoise_span_to_unique_sentinel) and seqio's
// append_eos_after_trim; HF mode after transformers' run_t5_mlm_flax.py DataCollatorForT5MLM.
#include "core/data/span_corruption.h"

#include <algorithm>
#include <cmath>

#include "core/batch.h"
#include "core/data/rng.h"
#include "core/error.h"

namespace t5 {
namespace {

// Python's round() and tf.round: half to even (the default floating-point rounding mode).
int64_t round_half_even(double x) { return static_cast<int64_t>(std::nearbyint(x)); }
int64_t round_half_even_f(float x) { return static_cast<int64_t>(std::nearbyintf(x)); }

struct PieceLengths {
  int64_t noise, spans, inputs, targets;
};

// The helper's _tokens_length_to_inputs_length_targets_length (float64, one sentinel per span, + EOS).
PieceLengths helper_lengths(int64_t tokens_length, double noise_density, double mean_noise_span_length) {
  const int64_t noise = round_half_even(double(tokens_length) * noise_density);
  const int64_t spans = round_half_even(double(noise) / mean_noise_span_length);
  return {noise, spans, tokens_length - noise + spans + 1, noise + spans + 1};
}

// first_in_segment of _random_segmentation: split num_items into num_segments positive parts,
// uniformly over compositions, by shuffling num_segments - 1 start flags among num_items - 1 places.
std::vector<int64_t> random_segmentation(int64_t num_items, int64_t num_segments, data::Rng& rng) {
  std::vector<uint8_t> starts(size_t(std::max<int64_t>(num_items - 1, 0)), 0);
  for (int64_t i = 0; i < num_segments - 1; ++i) starts[size_t(i)] = 1;
  rng.shuffle(std::span<uint8_t>(starts));
  std::vector<int64_t> lengths;
  lengths.reserve(size_t(num_segments));
  int64_t current = 1;
  for (uint8_t s : starts) {
    if (s) {
      lengths.push_back(current);
      current = 1;
    } else {
      ++current;
    }
  }
  lengths.push_back(current);
  return lengths;
}

}  // namespace

SpanLengths random_spans_helper(int64_t inputs_length, double noise_density, double mean_noise_span_length) {
  T5_CHECK_HINT(noise_density > 0 && noise_density < 1, "use a value like 0.15",
                "noise density must be in (0, 1), got {}", noise_density);
  T5_CHECK_HINT(mean_noise_span_length >= 1, "use a value like 3", "mean noise span length must be >= 1, got {}",
                mean_noise_span_length);
  T5_CHECK_HINT(inputs_length >= 2, "use a value like 512", "inputs length must be >= 2, got {}", inputs_length);
  int64_t tokens_length = inputs_length - 1;
  while (helper_lengths(tokens_length + 1, noise_density, mean_noise_span_length).inputs <= inputs_length)
    ++tokens_length;
  PieceLengths p = helper_lengths(tokens_length, noise_density, mean_noise_span_length);
  // The original's "minor hack" keeps targets no longer than inputs at density 0.5.
  if (noise_density == 0.5 && p.targets > p.inputs) {
    --tokens_length;
    --p.targets;
  }
  SpanLengths out{tokens_length, p.inputs, p.targets, p.noise, p.spans};
  // The mask of a full piece is what decides the sentinels used (float32 counts, at least one span).
  const NoiseCounts full = noise_counts(tokens_length, noise_density, mean_noise_span_length, true);
  const int64_t sentinels = std::max(full.noise_spans, p.spans);
  T5_CHECK_HINT(sentinels <= kMaxSentinels, "shorten --inputs-length or raise --mean-noise-span-length",
                "inputs length {} with noise density {} and mean span {} needs {} sentinels; the vocabulary has {}",
                inputs_length, noise_density, mean_noise_span_length, sentinels, kMaxSentinels);
  return out;
}

SpanLengths span_lengths(const SpanCorruptionConfig& config) {
  return random_spans_helper(config.inputs_length, config.noise_density, config.mean_noise_span_length);
}

NoiseCounts noise_counts(int64_t length, double noise_density, double mean_noise_span_length, bool float32_counts) {
  length = std::max<int64_t>(length, 2);
  NoiseCounts c;
  if (float32_counts) {
    c.noise_tokens = round_half_even_f(static_cast<float>(length) * static_cast<float>(noise_density));
    c.noise_tokens = std::min(std::max<int64_t>(c.noise_tokens, 1), length - 1);
    c.noise_spans = round_half_even_f(static_cast<float>(c.noise_tokens) / static_cast<float>(mean_noise_span_length));
  } else {
    c.noise_tokens = round_half_even(double(length) * noise_density);
    const int64_t nonnoise = length - c.noise_tokens;   // before the clamp, as HF computes it
    c.noise_tokens = std::min(std::max<int64_t>(c.noise_tokens, 1), length - 1);
    c.noise_spans = round_half_even(double(std::min(c.noise_tokens, nonnoise)) / mean_noise_span_length);
  }
  c.noise_spans = std::max<int64_t>(c.noise_spans, 1);
  return c;
}

std::vector<uint8_t> random_spans_noise_mask(int64_t length, double noise_density, double mean_noise_span_length,
                                             uint64_t seed, bool float32_counts) {
  const int64_t padded_length = std::max<int64_t>(length, 2);
  const NoiseCounts c = noise_counts(padded_length, noise_density, mean_noise_span_length, float32_counts);
  data::Rng rng(seed);
  const std::vector<int64_t> noise_spans = random_segmentation(c.noise_tokens, c.noise_spans, rng);
  const std::vector<int64_t> nonnoise_spans = random_segmentation(padded_length - c.noise_tokens, c.noise_spans, rng);
  std::vector<uint8_t> mask;
  mask.reserve(size_t(padded_length));
  for (int64_t s = 0; s < c.noise_spans; ++s) {
    mask.insert(mask.end(), size_t(nonnoise_spans[size_t(s)]), uint8_t(0));
    mask.insert(mask.end(), size_t(noise_spans[size_t(s)]), uint8_t(1));
  }
  mask.resize(size_t(std::max<int64_t>(length, 0)));
  return mask;
}

SpanExample apply_sentinels(std::span<const int32_t> tokens, std::span<const uint8_t> noise_mask,
                            int32_t first_sentinel, int64_t inputs_length, int64_t targets_length) {
  T5_CHECK(tokens.size() == noise_mask.size(), "noise mask has {} entries for {} tokens", noise_mask.size(),
           tokens.size());
  SpanExample ex;
  ex.inputs.reserve(tokens.size() + 1);
  ex.targets.reserve(tokens.size() / 2 + 2);
  int32_t inputs_sentinel = first_sentinel;
  int32_t targets_sentinel = first_sentinel;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const bool noise = noise_mask[i] != 0;
    const bool span_start = i == 0 || noise_mask[i - 1] != noise_mask[i];
    if (noise) {
      if (span_start) ex.inputs.push_back(inputs_sentinel--);
      ex.targets.push_back(tokens[i]);
    } else {
      if (span_start) ex.targets.push_back(targets_sentinel--);   // targets: non-noise spans -> sentinels
      ex.inputs.push_back(tokens[i]);
    }
  }
  auto eos_after_trim = [&](std::vector<int32_t>& v, int64_t length) {
    if (int64_t(v.size()) > length - 1) {
      v.resize(size_t(length - 1));
      ex.trimmed = true;
    }
    v.push_back(kEosId);
  };
  eos_after_trim(ex.inputs, inputs_length);
  eos_after_trim(ex.targets, targets_length);
  return ex;
}

}  // namespace t5
