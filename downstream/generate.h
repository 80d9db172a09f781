// INTERIM (lead's placeholder until the generation branch lands): greedy decoding by full recompute.
#pragma once
#include <cstdint>
#include <vector>
#include "core/model.h"
namespace t5 {
struct GenerateOptions {
  int64_t max_new_tokens = 32;
  int64_t num_beams = 1;
  double length_penalty = 1.0;
  bool early_stopping = false;
  int64_t batch = 32;
};
std::vector<std::vector<int32_t>> generate(Model& model, const std::vector<std::vector<int32_t>>& inputs,
                                           const GenerateOptions& options);
std::vector<std::vector<int32_t>> generate_uncached(Model& model, const std::vector<std::vector<int32_t>>& inputs,
                                                    const GenerateOptions& options);
}  // namespace t5
