// A seeded synthetic task for tests and smoke runs until the C4 pipeline is used: each example is a
// random sequence of `length` tokens from ids [3, vocab) followed by EOS; the target is the same
// sequence (copy) or reversed (reverse), then EOS. Example i of the stream depends only on (seed, i),
// so position() is the example index and seek() is exact.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/batch.h"

namespace t5 {

enum class SyntheticTask { copy, reverse };

struct SyntheticConfig {
  SyntheticTask task = SyntheticTask::copy;
  int64_t vocab_size = 64;      // token ids drawn from [3, vocab_size)
  int64_t length = 8;           // tokens per sequence before EOS
  int64_t inputs_length = 0;    // 0 = length + 1; longer rows are padded (segment 0)
  int64_t targets_length = 0;   // 0 = length + 1
};

std::unique_ptr<BatchSource> make_synthetic_source(const SyntheticConfig& config, int64_t batch, uint64_t seed);

}  // namespace t5
