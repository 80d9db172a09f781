// T5 forward/backward over the single parameter buffer (SPEC.md §4). First slice: buffers only; the
// layer passes follow in the next commit.
#include "core/model.h"

#include <algorithm>

#include "core/error.h"

namespace t5 {

struct Model::Workspace {};

Model::Model(const Shape& shape)
    : table_(shape), params_(size_t(table_.total()), 0.0f), grads_(size_t(table_.total()), 0.0f) {}
Model::~Model() = default;
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;

void Model::zero_grads() { std::fill(grads_.begin(), grads_.end(), 0.0f); }

LossResult Model::forward_backward(const Batch&, const ForwardOptions&, float) {
  throw Error("Model::forward_backward: not implemented yet");
}
LossResult Model::evaluate(const Batch&, const ForwardOptions&) {
  throw Error("Model::evaluate: not implemented yet");
}
std::vector<float> Model::logits(const Batch&) { throw Error("Model::logits: not implemented yet"); }

}  // namespace t5
