// A Batch from Hugging Face's T5ForConditionalGeneration inputs, as JSON (the `t5scale loss` batch file
// and the parity fixtures): {input_ids, labels, attention_mask?, decoder_input_ids?,
// decoder_attention_mask?}, each a list of equal-length rows of integers.
// HF semantics: attention_mask → encoder segment ids 1/0 (all 1 when absent); decoder_input_ids
// default to labels shifted right with start id 0 and −100 → 0 (T5PreTrainedModel._shift_right);
// decoder_attention_mask → decoder segment ids (all 1 when absent). Loss is over labels ≠ −100.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "core/batch.h"

namespace t5 {

// Strict: unknown keys, ragged rows, non-integers, masks other than 0/1, ids outside [0, vocab_size)
// (checked when vocab_size > 0), labels ≠ −100 where decoder_attention_mask is 0 (HF would count
// them, we cannot) and an attention_mask row of zeros (HF attends uniformly to the padding, we give
// zero attention) are errors naming `where`, the key and the row.
Batch batch_from_hf_json(const nlohmann::json& j, const std::string& where, int64_t vocab_size = 0);

}  // namespace t5
