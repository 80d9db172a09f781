// INTERIM placeholder (see generate.h).
#include "downstream/generate.h"
#include <algorithm>
#include "core/batch.h"
namespace t5 {
std::vector<std::vector<int32_t>> generate_uncached(Model& model, const std::vector<std::vector<int32_t>>& inputs,
                                                    const GenerateOptions& options) {
  std::vector<std::vector<int32_t>> out(inputs.size());
  const int64_t V = model.shape().vocab_size;
  for (size_t begin = 0; begin < inputs.size(); begin += size_t(options.batch)) {
    const size_t end = std::min(inputs.size(), begin + size_t(options.batch));
    const int64_t B = int64_t(end - begin);
    int64_t Le = 1;
    for (size_t i = begin; i < end; ++i) Le = std::max<int64_t>(Le, int64_t(inputs[i].size()));
    std::vector<bool> done(size_t(B), false);
    for (int64_t t = 0; t < options.max_new_tokens; ++t) {
      Batch b;
      b.batch = B; b.inputs_length = Le; b.targets_length = t + 1;
      b.input_ids.assign(size_t(B * Le), kPadId);
      b.encoder_segment_ids.assign(size_t(B * Le), 0);
      b.decoder_input_ids.assign(size_t(B * (t + 1)), kPadId);
      b.decoder_segment_ids.assign(size_t(B * (t + 1)), 1);
      b.labels.assign(size_t(B * (t + 1)), kIgnoreLabel);
      for (int64_t r = 0; r < B; ++r) {
        const auto& in = inputs[begin + size_t(r)];
        for (size_t j = 0; j < in.size(); ++j) {
          b.input_ids[size_t(r * Le) + j] = in[j];
          b.encoder_segment_ids[size_t(r * Le) + j] = 1;
        }
        const auto& o = out[begin + size_t(r)];
        for (int64_t j = 1; j <= t; ++j) b.decoder_input_ids[size_t(r * (t + 1) + j)] = j - 1 < int64_t(o.size()) ? o[size_t(j - 1)] : kPadId;
      }
      const std::vector<float> logits = model.logits(b);
      bool all = true;
      for (int64_t r = 0; r < B; ++r) {
        if (done[size_t(r)]) continue;
        const float* row = logits.data() + size_t((r * (t + 1) + t) * V);
        const int32_t id = int32_t(std::max_element(row, row + V) - row);
        out[begin + size_t(r)].push_back(id);
        if (id == kEosId) done[size_t(r)] = true; else all = false;
      }
      if (all) break;
    }
  }
  return out;
}
std::vector<std::vector<int32_t>> generate(Model& model, const std::vector<std::vector<int32_t>>& inputs,
                                           const GenerateOptions& options) {
  return generate_uncached(model, inputs, options);
}
}  // namespace t5
