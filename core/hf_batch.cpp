// HF-form batch JSON → Batch (see core/hf_batch.h).
#include "core/hf_batch.h"

#include <algorithm>
#include <climits>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace t5 {

namespace {

struct Matrix {
  int64_t rows = 0, cols = 0;
  std::vector<int32_t> values;  // [rows, cols]
};

// A non-empty list of equal-length non-empty rows of integers; `lo`/`hi` bound values when hi > lo.
Matrix read_matrix(const nlohmann::json& j, const std::string& where, const std::string& key) {
  const nlohmann::json& m = j.at(key);
  T5_CHECK_HINT(m.is_array() && !m.empty(), "one row per example, e.g. [[13, 7, 1]]",
                "{}: '{}' must be a non-empty list of rows", where, key);
  Matrix out;
  out.rows = int64_t(m.size());
  for (int64_t r = 0; r < out.rows; ++r) {
    const nlohmann::json& row = m[size_t(r)];
    T5_CHECK(row.is_array() && !row.empty(), "{}: '{}' row {} must be a non-empty list of integers", where, key, r);
    if (r == 0) out.cols = int64_t(row.size());
    T5_CHECK_HINT(int64_t(row.size()) == out.cols, "pad rows to one length (HF pads with 0 and labels with -100)",
                  "{}: '{}' row {} has {} values but row 0 has {}", where, key, r, row.size(), out.cols);
    for (int64_t c = 0; c < out.cols; ++c) {
      const nlohmann::json& v = row[size_t(c)];
      T5_CHECK(v.is_number_integer(), "{}: '{}' row {} position {} must be an integer, got {}", where, key, r, c,
               v.dump());
      const int64_t x = v.get<int64_t>();
      T5_CHECK(x >= INT32_MIN && x <= INT32_MAX, "{}: '{}' row {} position {}: {} is out of range", where, key, r, c, x);
      out.values.push_back(int32_t(x));
    }
  }
  return out;
}

void check_same_shape(const Matrix& a, const Matrix& b, const std::string& where, const std::string& key,
                      const std::string& like) {
  T5_CHECK(a.rows == b.rows && a.cols == b.cols, "{}: '{}' is [{}, {}] but '{}' is [{}, {}]", where, key, a.rows,
           a.cols, like, b.rows, b.cols);
}

void check_values(const Matrix& m, const std::string& where, const std::string& key, int32_t lo, int64_t hi,
                  bool allow_ignore, const std::string& what) {
  for (int64_t i = 0; i < int64_t(m.values.size()); ++i) {
    const int32_t v = m.values[size_t(i)];
    const bool ok = (v >= lo && v < hi) || (allow_ignore && v == kIgnoreLabel);
    T5_CHECK(ok, "{}: '{}' row {} position {}: {} {}", where, key, i / m.cols, i % m.cols, v, what);
  }
}

}  // namespace

Batch batch_from_hf_json(const nlohmann::json& j, const std::string& where, int64_t vocab_size) {
  T5_CHECK(j.is_object(), "{}: expected a JSON object with input_ids and labels, got {}", where, j.type_name());
  static const std::vector<std::string> known = {"input_ids", "labels", "attention_mask", "decoder_input_ids",
                                                 "decoder_attention_mask"};
  for (const auto& [key, value] : j.items())
    T5_CHECK_HINT(std::find(known.begin(), known.end(), key) != known.end(),
                  "valid keys: input_ids, labels, attention_mask, decoder_input_ids, decoder_attention_mask",
                  "{}: unknown key '{}'", where, key);
  for (const char* key : {"input_ids", "labels"})
    T5_CHECK(j.contains(key), "{}: missing required key '{}'", where, key);

  const int64_t hi = vocab_size > 0 ? vocab_size : int64_t(INT32_MAX);
  const std::string vocab_msg =
      vocab_size > 0 ? fmt::format("is outside the vocabulary [0, {})", vocab_size) : "is negative";
  const Matrix input_ids = read_matrix(j, where, "input_ids");
  check_values(input_ids, where, "input_ids", 0, hi, false, vocab_msg);
  const Matrix labels = read_matrix(j, where, "labels");
  T5_CHECK(labels.rows == input_ids.rows, "{}: 'labels' has {} rows but 'input_ids' has {}", where, labels.rows,
           input_ids.rows);
  check_values(labels, where, "labels", 0, hi, true, vocab_msg + " and is not -100");

  Batch b;
  b.batch = input_ids.rows;
  b.inputs_length = input_ids.cols;
  b.targets_length = labels.cols;
  b.input_ids = input_ids.values;
  b.labels = labels.values;

  auto mask = [&](const char* key, const Matrix& like, const char* like_key) {
    if (!j.contains(key)) return std::vector<int32_t>(like.values.size(), 1);
    const Matrix m = read_matrix(j, where, key);
    check_same_shape(m, like, where, key, like_key);
    check_values(m, where, key, 0, 2, false, "is not 0 or 1");
    return m.values;
  };
  b.encoder_segment_ids = mask("attention_mask", input_ids, "input_ids");
  // HF gives a row without visible input tokens uniform attention over its padding (finfo.min biases);
  // we give such queries zero attention (CONTRACTS.md). Refuse rather than silently differ.
  for (int64_t r = 0; r < b.batch; ++r) {
    const auto row = b.encoder_segment_ids.begin() + r * b.inputs_length;
    T5_CHECK_HINT(std::any_of(row, row + b.inputs_length, [](int32_t s) { return s != 0; }),
                  "give every example at least one input token (attention_mask 1)",
                  "{}: 'attention_mask' row {} is all 0", where, r);
  }
  b.decoder_segment_ids = mask("decoder_attention_mask", labels, "labels");
  for (size_t i = 0; i < b.labels.size(); ++i)
    T5_CHECK_HINT(b.decoder_segment_ids[i] != 0 || b.labels[i] == kIgnoreLabel,
                  "set labels to -100 where decoder_attention_mask is 0",
                  "{}: 'labels' row {} position {} is {} where decoder_attention_mask is 0", where,
                  int64_t(i) / labels.cols, int64_t(i) % labels.cols, b.labels[i]);

  if (j.contains("decoder_input_ids")) {
    const Matrix d = read_matrix(j, where, "decoder_input_ids");
    check_same_shape(d, labels, where, "decoder_input_ids", "labels");
    check_values(d, where, "decoder_input_ids", 0, hi, false, vocab_msg);
    b.decoder_input_ids = d.values;
  } else {  // HF _shift_right: start id 0, then labels[:-1] with −100 → pad 0
    b.decoder_input_ids.assign(b.labels.size(), kDecoderStartId);
    for (int64_t r = 0; r < b.batch; ++r)
      for (int64_t c = 1; c < b.targets_length; ++c) {
        const int32_t prev = b.labels[size_t(r * b.targets_length + c - 1)];
        b.decoder_input_ids[size_t(r * b.targets_length + c)] = prev == kIgnoreLabel ? kPadId : prev;
      }
  }
  return b;
}

}  // namespace t5
