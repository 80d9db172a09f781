// Parameter initialisation with Hugging Face's T5 statistics (SPEC.md §4, T5PreTrainedModel.
// _init_weights): normal(0, std) with the per-tensor std of the ParamTable, RMSNorm weights 1.
// Values are a pure function of (seed, tensor name, element index): a counter-based generator
// (SplitMix64 stream keyed per tensor, Box-Muller pairs), so the result does not depend on the
// thread count, on the order tensors are visited, or on which other tensors a shape has: two shapes
// that share a tensor name and size get the same values for it from the same seed.
#pragma once

#include <cstdint>

#include "core/param_table.h"

namespace t5 {

// Fills `params` (laid out by `table`). init_params(Model&, seed) is declared in core/model.h.
void init_params(const ParamTable& table, float* params, uint64_t seed);

// Standard normal value number `index` of the stream keyed by (seed, name); exposed for tests.
double init_normal(uint64_t seed, const std::string& name, int64_t index);

}  // namespace t5
