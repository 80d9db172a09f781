// Text generation with a t5::Model: greedy decoding and beam search with Hugging Face generate's
// semantics (GenerationMixin greedy / beam search, BeamSearchScorer and BeamHypotheses of
// transformers >= 4.36: length penalty on the generated length, EOS candidates only from the top
// num_beams ranks, 2 * num_beams candidates per step, early_stopping True / False).
//
// The encoder runs once per batch of inputs; the decoder runs one position per step with a per-layer
// self-attention key/value cache, and every layer's cross-attention keys and values are computed once
// from the encoder output (downstream/generate.cpp says how). generate_uncached() recomputes the
// whole decoder at every step through Model::logits (the training forward pass): the oracle the
// cached path is tested against (tests/generate_test.cpp; both also against a PyTorch reference,
// tests/reference/generate_reference.py).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/model.h"

namespace t5 {

struct GenerateOptions {
  int64_t max_new_tokens = 32;   // decoder steps at most (EOS included)
  int64_t num_beams = 1;         // 1 = greedy
  double length_penalty = 1.0;   // beam: score = sum logprobs / (generated length ** length_penalty), as HF
  bool early_stopping = false;   // as HF's BeamSearchScorer (True / False; HF's "never" is not offered)
  int64_t batch = 32;            // rows decoded together (inputs; beams multiply the decoder rows)
  // Benchmarks only (greedy): decode max_new_tokens steps in every row, EOS treated as any token, so
  // two implementations do the same work whatever their weights predict.
  bool ignore_eos = false;
  // Called after each batch: inputs finished so far, their total, tokens generated so far (progress).
  std::function<void(int64_t done, int64_t total, int64_t generated_tokens)> progress;
};

// inputs[i]: encoder token ids of example i (caller appends EOS, as T5 tokenization does; may differ in
// length). Returns, per input in input order, the generated ids without the decoder start token, ending
// with EOS when one was produced (nothing after it). Deterministic.
// Inputs are decoded in batches of options.batch in order of length (longest first), padded to the
// longest of their batch; padding is masked as the model masks it (encoder self- and cross-attention).
// Errors (t5::Error): an empty input, an id outside the vocabulary, options out of range.
std::vector<std::vector<int32_t>> generate(Model& model, const std::vector<std::vector<int32_t>>& inputs,
                                           const GenerateOptions& options);

// generate() keeping its buffers (KV caches, encoder scratch, logits) between calls, as a loop that
// decodes a validation split every few hundred steps wants: no fresh memory (page faults) per call.
// The model's weights may change between calls (they are read at every call); the model must outlive
// the Generator. Same results as generate().
class Generator {
 public:
  explicit Generator(Model& model);
  ~Generator();
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;
  std::vector<std::vector<int32_t>> generate(const std::vector<std::vector<int32_t>>& inputs,
                                             const GenerateOptions& options);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The same by full recompute of the decoder at every step (no cache): the test oracle.
std::vector<std::vector<int32_t>> generate_uncached(Model& model, const std::vector<std::vector<int32_t>>& inputs,
                                                    const GenerateOptions& options);

}  // namespace t5
