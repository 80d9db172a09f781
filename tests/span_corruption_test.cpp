// Span corruption against SPEC.md §6: the lengths table, other densities, float32 rounding, the
// worked sentinel example, mask statistics, uniform compositions, reconstruction and packing.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/data/c4_source.h"
#include "core/data/rng.h"
#include "core/data/span_corruption.h"
#include "core/error.h"

namespace t5 {
namespace {

TEST(SpanCorruption, LengthsTable) {
  const std::vector<std::array<int64_t, 3>> table = {
      {64, 70, 14}, {128, 141, 29}, {256, 284, 58}, {512, 568, 114}, {1024, 1137, 229}};
  for (const auto& [inputs, tokens, targets] : table) {
    const SpanLengths len = random_spans_helper(inputs, 0.15, 3.0);
    EXPECT_EQ(len.tokens_length, tokens) << inputs;
    EXPECT_EQ(len.targets_length, targets) << inputs;
    EXPECT_EQ(len.inputs_length, inputs) << inputs;
  }
}

TEST(SpanCorruption, OtherDensities) {
  SpanLengths a = random_spans_helper(64, 0.20, 2.0);
  EXPECT_EQ(a.tokens_length, 70);
  EXPECT_EQ(a.targets_length, 22);
  SpanLengths b = random_spans_helper(64, 0.20, 1.0);
  EXPECT_EQ(b.tokens_length, 63);
  EXPECT_EQ(b.targets_length, 27);
}

TEST(SpanCorruption, Float32Rounding) {
  // L * 0.15f rounds up to x.5 + ulp in float32, so half-even rounding gives one more noise token.
  for (const auto& [length, f64, f32] : std::vector<std::array<int64_t, 3>>{{190, 28, 29}, {350, 52, 53}, {390, 58, 59}}) {
    EXPECT_EQ(noise_counts(length, 0.15, 3.0, false).noise_tokens, f64) << length;
    EXPECT_EQ(noise_counts(length, 0.15, 3.0, true).noise_tokens, f32) << length;
    const std::vector<uint8_t> mask = random_spans_noise_mask(length, 0.15, 3.0, 7);
    EXPECT_EQ(std::count(mask.begin(), mask.end(), 1), f32) << length;
  }
  EXPECT_EQ(noise_counts(141, 0.15, 3.0, true).noise_tokens, 21);   // no difference elsewhere
}

TEST(SpanCorruption, WorkedSentinelExample) {
  const std::vector<int32_t> t = {101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112};
  const std::vector<uint8_t> mask = {0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1};
  const SpanExample ex = apply_sentinels(t, mask, 32099, 64, 14);
  EXPECT_EQ(ex.inputs, (std::vector<int32_t>{101, 102, 103, 32099, 106, 107, 108, 109, 110, 32098, 1}));
  EXPECT_EQ(ex.targets, (std::vector<int32_t>{32099, 104, 105, 32098, 111, 112, 1}));
  const Batch b = pack_examples(std::vector<SpanExample>{ex}, 1, 11, 7, true);
  EXPECT_EQ(b.decoder_input_ids, (std::vector<int32_t>{0, 32099, 104, 105, 32098, 111, 112}));
  EXPECT_EQ(b.labels, ex.targets);
  EXPECT_FALSE(ex.trimmed);
}

TEST(SpanCorruption, EosAfterTrim) {
  const std::vector<int32_t> t = {5, 6, 7, 8};
  const std::vector<uint8_t> mask = {0, 0, 0, 1};
  const SpanExample ex = apply_sentinels(t, mask, 99, 3, 4);
  EXPECT_EQ(ex.inputs, (std::vector<int32_t>{5, 6, 1}));
  EXPECT_TRUE(ex.trimmed);
}

TEST(SpanCorruption, MaskStatistics) {
  const int64_t L = 568;
  int64_t noise = 0, spans = 0, total = 0;
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    const std::vector<uint8_t> m = random_spans_noise_mask(L, 0.15, 3.0, seed);
    ASSERT_EQ(int64_t(m.size()), L);
    ASSERT_EQ(m.front(), 0) << "first token is never noise";
    ASSERT_EQ(m.back(), 1) << "the mask ends with noise";
    for (int64_t i = 0; i < L; ++i) {
      noise += m[size_t(i)];
      spans += (m[size_t(i)] && (i == 0 || !m[size_t(i - 1)])) ? 1 : 0;
    }
    total += L;
  }
  EXPECT_NEAR(double(noise) / double(total), 0.15, 0.005);
  EXPECT_NEAR(double(noise) / double(spans), 3.0, 0.1);
}

TEST(SpanCorruption, SpanLengthsVaryAcrossSeeds) {
  // Within one piece the count is fixed; the split into spans must be random (mean 3, not all 3).
  std::map<int64_t, int64_t> lengths;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    const std::vector<uint8_t> m = random_spans_noise_mask(141, 0.15, 3.0, seed);
    int64_t run = 0;
    for (size_t i = 0; i <= m.size(); ++i) {
      if (i < m.size() && m[i]) ++run;
      else if (run > 0) ++lengths[run], run = 0;
    }
  }
  EXPECT_GT(lengths[1], 0);
  EXPECT_GT(lengths[6], 0);
}

TEST(SpanCorruption, UniformCompositions) {
  // length 8, density 0.25, mean 1: 2 noise tokens in 2 spans of 1; 6 non-noise tokens in 2 positive
  // parts: the 5 compositions (1,5) ... (5,1) must be equally likely.
  std::map<int64_t, int64_t> first_part;
  const int64_t trials = 20000;
  for (uint64_t seed = 0; seed < uint64_t(trials); ++seed) {
    const std::vector<uint8_t> m = random_spans_noise_mask(8, 0.25, 1.0, seed);
    ASSERT_EQ(std::count(m.begin(), m.end(), 1), 2);
    ++first_part[std::find(m.begin(), m.end(), 1) - m.begin()];
  }
  ASSERT_EQ(first_part.size(), 5u);
  for (const auto& [part, n] : first_part) EXPECT_NEAR(double(n) / trials, 0.2, 0.015) << part;
}

// Merges inputs and targets at the sentinels: gives back the piece.
std::vector<int32_t> reconstruct(const SpanExample& ex, int32_t first_sentinel, int32_t last_sentinel) {
  auto is_sentinel = [&](int32_t id) { return id <= first_sentinel && id >= last_sentinel; };
  std::map<int32_t, std::vector<int32_t>> spans;
  int32_t current = -1;
  for (int32_t id : ex.targets) {
    if (id == kEosId) break;
    if (is_sentinel(id)) current = id;
    else spans[current].push_back(id);
  }
  std::vector<int32_t> out;
  for (int32_t id : ex.inputs) {
    if (id == kEosId) break;
    if (is_sentinel(id)) out.insert(out.end(), spans[id].begin(), spans[id].end());
    else out.push_back(id);
  }
  return out;
}

TEST(SpanCorruption, ReconstructionAndSentinelOrder) {
  data::Rng rng(3);
  for (int64_t L : {1, 2, 3, 10, 70, 141, 568}) {
    for (uint64_t seed = 0; seed < 50; ++seed) {
      std::vector<int32_t> tokens(static_cast<size_t>(L));
      for (auto& t : tokens) t = int32_t(3 + rng.uniform(997));
      const std::vector<uint8_t> mask = random_spans_noise_mask(L, 0.15, 3.0, seed);
      const SpanExample ex = apply_sentinels(tokens, mask, 1099, 1000, 1000);
      ASSERT_EQ(reconstruct(ex, 1099, 1000), tokens) << L;
      int32_t expect = 1099;
      for (int32_t id : ex.inputs)
        if (id >= 1000) {
          ASSERT_EQ(id, expect--) << "sentinels count down from vocab_size - 1";
        }
      ASSERT_EQ(ex.inputs.back(), kEosId);
      ASSERT_EQ(ex.targets.back(), kEosId);
    }
  }
}

TEST(SpanCorruption, RejectsMoreThan100Sentinels) {
  EXPECT_NO_THROW(random_spans_helper(1024, 0.15, 3.0));
  try {
    random_spans_helper(2048, 0.15, 3.0);
    FAIL() << "2048 tokens need 114 sentinels";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("114 sentinels"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(random_spans_helper(511, 0.15, 1.0));   // 77 spans at mean 1
  EXPECT_THROW(random_spans_helper(700, 0.15, 1.0), Error);
}

TEST(SpanCorruption, RejectsBadSettings) {
  EXPECT_THROW(random_spans_helper(64, 0.0, 3.0), Error);
  EXPECT_THROW(random_spans_helper(64, 1.0, 3.0), Error);
  EXPECT_THROW(random_spans_helper(64, 0.15, 0.5), Error);
  EXPECT_THROW(random_spans_helper(1, 0.15, 3.0), Error);
}

TEST(Packing, SegmentsAndMasks) {
  // Three short examples (inputs+targets 2+3 / 2+2 / 4+3) into rows of 6 / 5: the first two share row 0.
  std::vector<SpanExample> ex(3);
  ex[0].inputs = {10, 1};
  ex[0].targets = {20, 21, 1};
  ex[1].inputs = {11, 1};
  ex[1].targets = {22, 1};
  ex[2].inputs = {12, 13, 14, 1};
  ex[2].targets = {23, 24, 1};
  size_t consumed = 0;
  const Batch b = pack_examples(ex, 2, 6, 5, true, &consumed);
  EXPECT_EQ(consumed, 3u);
  EXPECT_EQ(b.input_ids, (std::vector<int32_t>{10, 1, 11, 1, 0, 0, 12, 13, 14, 1, 0, 0}));
  EXPECT_EQ(b.encoder_segment_ids, (std::vector<int32_t>{1, 1, 2, 2, 0, 0, 1, 1, 1, 1, 0, 0}));
  EXPECT_EQ(b.labels, (std::vector<int32_t>{20, 21, 1, 22, 1, 23, 24, 1, kIgnoreLabel, kIgnoreLabel}));
  EXPECT_EQ(b.decoder_input_ids, (std::vector<int32_t>{0, 20, 21, 0, 22, 0, 23, 24, 0, 0}));
  EXPECT_EQ(b.decoder_segment_ids, (std::vector<int32_t>{1, 1, 1, 2, 2, 1, 1, 1, 0, 0}));
  EXPECT_EQ(b.label_tokens(), 8);
  // HF mode: one example per row.
  const Batch h = pack_examples(ex, 2, 6, 5, false, &consumed);
  EXPECT_EQ(consumed, 2u);
  EXPECT_EQ(h.encoder_segment_ids, (std::vector<int32_t>{1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0}));
}

}  // namespace
}  // namespace t5
