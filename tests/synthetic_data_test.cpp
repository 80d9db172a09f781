// The synthetic copy/reverse task: row layout, determinism and exact seek.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/batch.h"
#include "core/error.h"
#include "core/synthetic_data.h"

namespace t5 {
namespace {

TEST(SyntheticData, CopyAndReverseRowsAndExactSeek) {
  SyntheticConfig c;
  c.vocab_size = 20;
  c.length = 5;
  c.inputs_length = 8;   // padded
  auto src = make_synthetic_source(c, 3, 7);
  const Batch b = src->next();
  ASSERT_EQ(b.input_ids.size(), 24u);
  ASSERT_EQ(b.labels.size(), 18u);
  EXPECT_EQ(b.label_tokens(), 3 * 6);
  for (int r = 0; r < 3; ++r) {
    for (int i = 0; i < 5; ++i) {
      EXPECT_GE(b.input_ids[r * 8 + i], 3);
      EXPECT_LT(b.input_ids[r * 8 + i], 20);
      EXPECT_EQ(b.labels[r * 6 + i], b.input_ids[r * 8 + i]);        // copy
      EXPECT_EQ(b.decoder_input_ids[r * 6 + i + 1], b.labels[r * 6 + i]);
    }
    EXPECT_EQ(b.input_ids[r * 8 + 5], kEosId);
    EXPECT_EQ(b.labels[r * 6 + 5], kEosId);
    EXPECT_EQ(b.decoder_input_ids[r * 6], kDecoderStartId);
    EXPECT_EQ(b.encoder_segment_ids[r * 8 + 5], 1);
    EXPECT_EQ(b.encoder_segment_ids[r * 8 + 6], 0);   // padding
  }
  // Rows differ, the stream moves on, and seek() replays it exactly.
  EXPECT_NE(std::vector<int32_t>(b.input_ids.begin(), b.input_ids.begin() + 5),
            std::vector<int32_t>(b.input_ids.begin() + 8, b.input_ids.begin() + 13));
  const nlohmann::json pos = src->position();
  EXPECT_EQ(pos["example"], 3);
  const Batch b2 = src->next();
  src->seek(pos);
  EXPECT_EQ(src->next().input_ids, b2.input_ids);
  EXPECT_NE(b2.input_ids, b.input_ids);
  EXPECT_THROW(src->seek(nlohmann::json{{"row", 1}}), Error);

  c.task = SyntheticTask::reverse;
  const Batch r = make_synthetic_source(c, 3, 7)->next();
  EXPECT_EQ(r.input_ids, b.input_ids);   // same seed, same sequences
  for (int i = 0; i < 5; ++i) EXPECT_EQ(r.labels[i], b.input_ids[4 - i]);
  // A batch of 6 is the same rows as two batches of 3 (accumulation sees the same data).
  c.task = SyntheticTask::copy;
  const Batch six = make_synthetic_source(c, 6, 7)->next();
  EXPECT_EQ(std::vector<int32_t>(six.input_ids.begin(), six.input_ids.begin() + 24), b.input_ids);
}

}  // namespace
}  // namespace t5
