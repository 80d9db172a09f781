// Metric definitions: see metrics.h. Hand-worked checks in tests/metrics_test.cpp.
#include "downstream/metrics.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"

namespace t5 {
namespace {

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

void check_lists(const char* metric, const std::vector<std::string>& predictions,
                 const std::vector<std::string>& targets) {
  T5_CHECK(predictions.size() == targets.size(), "{}: {} predictions for {} targets", metric, predictions.size(),
           targets.size());
  T5_CHECK(!targets.empty(), "{}: no examples to score", metric);
}

// Share of rows where `holds(prediction, target)`.
template <typename Predicate>
double share_where(const std::vector<std::string>& predictions, const std::vector<std::string>& targets,
                   Predicate holds) {
  int64_t count = 0;
  for (size_t i = 0; i < targets.size(); ++i) count += holds(predictions[i], targets[i]) ? 1 : 0;
  return double(count) / double(targets.size());
}

}  // namespace

std::string_view trim_ascii_whitespace(std::string_view text) {
  size_t begin = 0, end = text.size();
  while (begin < end && is_ascii_space(text[begin])) ++begin;
  while (end > begin && is_ascii_space(text[end - 1])) --end;
  return text.substr(begin, end - begin);
}

std::vector<std::string> whitespace_tokens(std::string_view text) {
  std::vector<std::string> tokens;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_ascii_space(text[i])) ++i;
    const size_t start = i;
    while (i < text.size() && !is_ascii_space(text[i])) ++i;
    if (i > start) tokens.emplace_back(text.substr(start, i - start));
  }
  return tokens;
}

// Wagner-Fischer with one row: row[j] = distance between hypothesis[0, i) and reference[0, j).
int64_t edit_distance(const std::vector<std::string>& hypothesis, const std::vector<std::string>& reference) {
  std::vector<int64_t> row(reference.size() + 1);
  std::iota(row.begin(), row.end(), int64_t{0});
  for (size_t i = 1; i <= hypothesis.size(); ++i) {
    int64_t diagonal = row[0];   // distance(hypothesis[0, i-1), reference[0, j-1))
    row[0] = int64_t(i);
    for (size_t j = 1; j <= reference.size(); ++j) {
      const int64_t substitute = diagonal + (hypothesis[i - 1] == reference[j - 1] ? 0 : 1);
      diagonal = row[j];
      row[j] = std::min({substitute, row[j] + 1, row[j - 1] + 1});
    }
  }
  return row.back();
}

double accuracy(const std::vector<std::string>& predictions, const std::vector<std::string>& targets) {
  check_lists("accuracy", predictions, targets);
  return share_where(predictions, targets, [](const std::string& p, const std::string& t) {
    return trim_ascii_whitespace(p) == trim_ascii_whitespace(t);
  });
}

double exact_match(const std::vector<std::string>& predictions, const std::vector<std::string>& targets) {
  check_lists("exact match", predictions, targets);
  return share_where(predictions, targets, [](const std::string& p, const std::string& t) { return p == t; });
}

double word_error_rate(const std::vector<std::string>& predictions, const std::vector<std::string>& targets) {
  check_lists("word error rate", predictions, targets);
  return share_where(predictions, targets, [](const std::string& p, const std::string& t) {
    return whitespace_tokens(p) != whitespace_tokens(t);
  });
}

double phoneme_error_rate(const std::vector<std::string>& predictions, const std::vector<std::string>& targets) {
  check_lists("phoneme error rate", predictions, targets);
  int64_t edits = 0, reference_tokens = 0;
  for (size_t i = 0; i < targets.size(); ++i) {
    const std::vector<std::string> reference = whitespace_tokens(targets[i]);
    edits += edit_distance(whitespace_tokens(predictions[i]), reference);
    reference_tokens += int64_t(reference.size());
  }
  T5_CHECK(reference_tokens > 0, "phoneme error rate: the {} references hold no phoneme", targets.size());
  return double(edits) / double(reference_tokens);
}

}  // namespace t5
