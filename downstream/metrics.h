// Scores of decoded text against reference text for the downstream tasks (issue 14): accuracy and
// exact match for classification (T5's sst2 and SuperGLUE-style label tasks score the decoded label
// string), and token edit distance for sequence tasks (g2p: word error rate, phoneme error rate, as
// in the grapheme-to-phoneme literature, e.g. Yao & Zweig 2015). All rates are fractions in [0, 1]
// (an edit-distance rate may exceed 1 when predictions are longer than references). Tokens are the
// text split on ASCII whitespace, so spacing alone never counts as an error in the token metrics.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace t5 {

// `text` without leading and trailing ASCII whitespace (space, \t, \n, \r, \f, \v).
std::string_view trim_ascii_whitespace(std::string_view text);

// `text` split on runs of ASCII whitespace; empty text gives no tokens.
std::vector<std::string> whitespace_tokens(std::string_view text);

// Levenshtein distance between token sequences: the least number of insertions, deletions and
// substitutions (each costing 1) that turn `hypothesis` into `reference`.
int64_t edit_distance(const std::vector<std::string>& hypothesis, const std::vector<std::string>& reference);

// Each of these scores a list of predictions against a list of the same length; an empty list or
// lists of different lengths is a t5::Error.
// Share of predictions equal to their target once both are trimmed (trim_ascii_whitespace).
double accuracy(const std::vector<std::string>& predictions, const std::vector<std::string>& targets);
// Share of predictions byte-for-byte equal to their target (no normalisation at all).
double exact_match(const std::vector<std::string>& predictions, const std::vector<std::string>& targets);
// Share of predictions whose token sequence differs from the target's in any way (g2p: a word whose
// phoneme string is not exactly right; an empty prediction is wrong unless the target is empty too).
double word_error_rate(const std::vector<std::string>& predictions, const std::vector<std::string>& targets);
// Total token edit distance over total reference tokens (g2p: phoneme error rate). A t5::Error when
// the references hold no token at all (the rate is undefined).
double phoneme_error_rate(const std::vector<std::string>& predictions, const std::vector<std::string>& targets);

}  // namespace t5
