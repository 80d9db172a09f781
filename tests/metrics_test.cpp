// The downstream metrics (downstream/metrics.h) and each task's scoring (score_task) on cases worked by
// hand: every expected value below is counted in the comment beside it.
#include <functional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "downstream/metrics.h"
#include "downstream/tasks.h"

namespace t5 {
namespace {
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Tokens = std::vector<std::string>;
using Texts = std::vector<std::string>;

Tokens chars(const std::string& s) {
  Tokens out;
  for (char c : s) out.push_back(std::string(1, c));
  return out;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.message();
  }
  return "(no error)";
}

TEST(Metrics, WhitespaceTokensAndTrim) {
  EXPECT_THAT(whitespace_tokens("  K  AE1\tT\n"), ElementsAre("K", "AE1", "T"));
  EXPECT_TRUE(whitespace_tokens("").empty());
  EXPECT_TRUE(whitespace_tokens(" \t\r\n ").empty());
  EXPECT_EQ(trim_ascii_whitespace("\t positive \r\n"), "positive");
  EXPECT_EQ(trim_ascii_whitespace("   "), "");
  EXPECT_EQ(trim_ascii_whitespace("a b"), "a b");   // inner spaces stay
}

TEST(Metrics, EditDistanceByHand) {
  // kitten -> sitting: k->s, e->i, insert g = 3 (the textbook case).
  EXPECT_EQ(edit_distance(chars("kitten"), chars("sitting")), 3);
  EXPECT_EQ(edit_distance(chars("sitting"), chars("kitten")), 3);   // symmetric
  EXPECT_EQ(edit_distance({}, {}), 0);
  EXPECT_EQ(edit_distance({}, {"K", "AE1", "T"}), 3);   // three insertions
  EXPECT_EQ(edit_distance({"K", "AE1", "T"}, {}), 3);   // three deletions
  EXPECT_EQ(edit_distance({"K", "AE1", "T"}, {"K", "AE1", "T"}), 0);
  EXPECT_EQ(edit_distance({"K", "AE1", "T"}, {"K", "AE1", "T", "S"}), 1);   // one insertion
  EXPECT_EQ(edit_distance({"B", "AE1", "T"}, {"K", "AE1", "T"}), 1);        // one substitution
  EXPECT_EQ(edit_distance({"AE1", "K", "T"}, {"K", "AE1", "T"}), 2);        // a swap is two edits
  // Stress digits make different tokens: AE1 vs AE0 is a substitution.
  EXPECT_EQ(edit_distance({"K", "AE0", "T"}, {"K", "AE1", "T"}), 1);
  // Whole tokens, not characters: "AH0" vs "AH1" is one edit, not compared letter by letter.
  EXPECT_EQ(edit_distance({"AH0", "B", "AW1", "T"}, {"B", "AW1", "T"}), 1);
}

TEST(Metrics, AccuracyTrimsAndExactMatchDoesNot) {
  const Texts predictions = {" positive", "negative\n", "Positive", ""};
  const Texts targets = {"positive", "positive", "positive", "negative"};
  // Only row 0 matches once trimmed (row 1 is the other label, row 2 differs in case, row 3 is empty): 1/4.
  EXPECT_DOUBLE_EQ(accuracy(predictions, targets), 0.25);
  // Byte for byte, none does.
  EXPECT_DOUBLE_EQ(exact_match(predictions, targets), 0.0);
  EXPECT_DOUBLE_EQ(exact_match({"positive", "x"}, {"positive", "y"}), 0.5);
  EXPECT_DOUBLE_EQ(accuracy({"noun.person"}, {"noun.person"}), 1.0);
  // Empty prediction against an empty target: equal.
  EXPECT_DOUBLE_EQ(accuracy({""}, {"  "}), 1.0);
}

TEST(Metrics, WordAndPhonemeErrorRatesByHand) {
  const Texts targets = {"K AE1 T", "D AA1 G", "F IH1 SH", "B ER1 D"};
  const Texts predictions = {"K AE1 T", "D AO1 G", "", " B  ER1 D "};
  // Wrong words: row 1 (AA1 -> AO1) and row 2 (empty); row 3 differs in spacing only: 2 of 4.
  EXPECT_DOUBLE_EQ(word_error_rate(predictions, targets), 0.5);
  // Edits 0 + 1 + 3 + 0 = 4 over 3 + 3 + 3 + 3 = 12 reference phonemes: 1/3.
  EXPECT_DOUBLE_EQ(phoneme_error_rate(predictions, targets), 4.0 / 12.0);
  // All right: 0 and 0.
  EXPECT_DOUBLE_EQ(word_error_rate(targets, targets), 0.0);
  EXPECT_DOUBLE_EQ(phoneme_error_rate(targets, targets), 0.0);
  // All predictions empty: every word wrong, every phoneme deleted: 1 and 1.
  const Texts empty(4, "");
  EXPECT_DOUBLE_EQ(word_error_rate(empty, targets), 1.0);
  EXPECT_DOUBLE_EQ(phoneme_error_rate(empty, targets), 1.0);
  // A prediction longer than its reference: 6 tokens for 1 = 1 substitution + 5 insertions = 6 edits / 1.
  EXPECT_DOUBLE_EQ(phoneme_error_rate({"A B C D E F"}, {"X"}), 6.0);
  // Short predictions: "K AE1" lacks T (1 edit), "S" lacks IY1 Z (2 edits): 3 over 3 + 3 reference phonemes.
  EXPECT_DOUBLE_EQ(phoneme_error_rate({"K AE1", "S"}, {"K AE1 T", "S IY1 Z"}), 3.0 / 6.0);
}

TEST(Metrics, BadListsAreErrors) {
  EXPECT_THAT(error_of([] { accuracy({}, {}); }), HasSubstr("accuracy: no examples to score"));
  EXPECT_THAT(error_of([] { exact_match({"a"}, {"a", "b"}); }), HasSubstr("exact match: 1 predictions for 2 targets"));
  EXPECT_THAT(error_of([] { word_error_rate({"a", "b"}, {"a"}); }), HasSubstr("2 predictions for 1 targets"));
  EXPECT_THAT(error_of([] { phoneme_error_rate({"A"}, {" "}); }), HasSubstr("references hold no phoneme"));
}

TEST(TaskScoring, EachTaskScoresWithItsMetrics) {
  const TaskInfo sentiment = task_info("sentiment");
  EXPECT_EQ(sentiment.primary_metric, "accuracy");
  EXPECT_TRUE(sentiment.higher_is_better);
  EXPECT_THAT(sentiment.metrics, ElementsAre("accuracy"));
  const TaskInfo supersense = task_info("supersense");
  EXPECT_EQ(supersense.primary_metric, "accuracy");
  EXPECT_TRUE(supersense.higher_is_better);
  const TaskInfo g2p = task_info("g2p");
  EXPECT_EQ(g2p.primary_metric, "word_error_rate");
  EXPECT_FALSE(g2p.higher_is_better);
  EXPECT_THAT(g2p.metrics, ElementsAre("word_error_rate", "phoneme_error_rate"));

  // 2 of 3 labels right.
  const auto s = score_task("sentiment", {"positive", "negative ", "positive"}, {"positive", "negative", "negative"});
  ASSERT_EQ(s.size(), 1u);
  EXPECT_DOUBLE_EQ(s.at("accuracy"), 2.0 / 3.0);
  const auto ss = score_task("supersense", {"noun.animal", "verb.motion"}, {"noun.animal", "verb.change"});
  EXPECT_DOUBLE_EQ(ss.at("accuracy"), 0.5);
  // g2p: "K AE1 T" right; "D AO1 G" one substitution: WER 1/2, PER 1/6.
  const auto g = score_task("g2p", {"K AE1 T", "D AO1 G"}, {"K AE1 T", "D AA1 G"});
  ASSERT_EQ(g.size(), 2u);
  EXPECT_DOUBLE_EQ(g.at("word_error_rate"), 0.5);
  EXPECT_DOUBLE_EQ(g.at("phoneme_error_rate"), 1.0 / 6.0);

  EXPECT_THAT(error_of([] { task_info("squad"); }), HasSubstr("unknown task 'squad'"));
  try {
    task_info("squad");
  } catch (const Error& e) {
    EXPECT_EQ(e.hint(), "known tasks: sentiment, supersense, g2p");
  }
  EXPECT_THAT(error_of([] { score_task("g2p", {}, {}); }), HasSubstr("no examples"));
  EXPECT_EQ(task_prefix("g2p"), "g2p: ");
}

}  // namespace
}  // namespace t5
