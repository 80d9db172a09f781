// Exact parameter and FLOP counts (SPEC.md §2, §3) and the training-memory estimate.
// The two sharing flags (core/shape.h): skv ties k and v, so an attention has 3 projection matrices of
// dm·inner instead of 4 and computes the key/value projection once (Mesh TF compute_kv): the FLOPs
// lose one 2·L·dm·inner term per attention, L the tokens its keys come from (Le for encoder self- and
// cross-attention, Ld for decoder self-attention). sh keeps one set of projections per stack and
// attention kind: parameters shrink, FLOPs do not (every layer still applies them).
#include "core/counts.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace t5 {

ParamBreakdown count_params(const Shape& s) {
  s.validate();
  const int64_t dm = s.dm, ff = s.ff, inner = s.inner(), V = s.vocab_size;
  const int64_t f = s.gated() ? 3 : 2;  // feed-forward matrices of size dm*ff per block
  const int64_t a = s.shared_kv ? 3 : 4;  // projection matrices of size dm*inner per attention
  const int64_t enc_attn = s.shared_heads ? 1 : s.el, dec_attn = s.shared_heads ? 1 : s.dl;  // sets held
  ParamBreakdown p;
  p.embedding = V * dm;
  p.encoder = s.el * (f * dm * ff + 2 * dm) + enc_attn * a * dm * inner;
  p.decoder = s.dl * (f * dm * ff + 3 * dm) + dec_attn * 2 * a * dm * inner;
  p.lm_head = s.tied ? 0 : V * dm;
  p.relative_bias = 2 * s.relative_buckets * s.nh;
  p.final_norms = 2 * dm;
  p.norms = 2 * dm * s.el + 3 * dm * s.dl + p.final_norms;
  p.total = p.embedding + p.encoder + p.decoder + p.lm_head + p.relative_bias + p.final_norms;
  p.non_embedding = p.total - p.embedding - p.lm_head - p.relative_bias;
  return p;
}

FlopBreakdown count_flops(const Shape& s, const Lengths& len) {
  s.validate();
  const double dm = double(s.dm), ff = double(s.ff), inner = double(s.inner()), V = double(s.vocab_size);
  const double Le = double(len.inputs), Ld = double(len.targets);
  const double f = s.gated() ? 3.0 : 2.0;
  const double kv_proj = s.shared_kv ? 1.0 : 2.0;  // key/value projections computed per attention
  FlopBreakdown r;
  // Encoder layer: q,k,v,o projections over Le tokens, scores and weighted sum (Le x Le), FF.
  r.encoder_attention = double(s.el) * (2 * Le * (2 + kv_proj) * dm * inner + 4 * Le * Le * inner);
  r.encoder_feed_forward = double(s.el) * (2 * Le * f * dm * ff);
  // Decoder self-attention over the full Ld x Ld square (causality is a mask, not skipped work).
  r.decoder_self_attention = double(s.dl) * (2 * Ld * (2 + kv_proj) * dm * inner + 4 * Ld * Ld * inner);
  // Cross-attention: q,o on decoder tokens, k,v on encoder tokens, Ld x Le scores and sum.
  r.decoder_cross_attention =
      double(s.dl) * (2 * Ld * 2 * dm * inner + 2 * Le * kv_proj * dm * inner + 4 * Ld * Le * inner);
  r.decoder_feed_forward = double(s.dl) * (2 * Ld * f * dm * ff);
  r.lm_head = 2 * Ld * dm * V;
  r.forward_per_example = r.encoder_attention + r.encoder_feed_forward + r.decoder_self_attention +
                          r.decoder_cross_attention + r.decoder_feed_forward + r.lm_head;
  r.train_per_step = 3 * r.forward_per_example * double(len.batch);
  // Kaplan et al. (2020): C = 6 N per token with N the non-embedding parameters, every weight seeing
  // every token. In an encoder-decoder, encoder weights see only Le tokens and decoder weights only
  // Ld, so this overstates the exact count (about 1.75x for t5-efficient-base at 512/114). With sh a
  // weight serves every layer of its stack, which 6N does not see: it understates those shapes.
  r.kaplan_6n_per_step = 6 * double(count_params(s).non_embedding) * double(len.batch) * (Le + Ld);
  return r;
}

int64_t adafactor_state_floats(int64_t rows, int64_t cols, int64_t factor_threshold) {
  // A vector [n] is never factored; a matrix is when its second-largest dim reaches the threshold.
  if (rows <= 1 || cols <= 1) return rows * cols;
  if (std::min(rows, cols) >= factor_threshold) return rows + cols;
  return rows * cols;
}

MemoryEstimate estimate_memory(const Shape& s, const Lengths& len, OptimizerKind opt) {
  const ParamBreakdown p = count_params(s);
  const int64_t N = p.total;
  const int64_t dm = s.dm, ff = s.ff, inner = s.inner(), nh = s.nh, V = s.vocab_size;
  const int64_t Le = len.inputs, Ld = len.targets, B = len.batch;
  MemoryEstimate m;
  m.weights_fp32_bytes = 4 * N;
  m.weights_bf16_bytes = 2 * N;
  m.gradients_bytes = 4 * N;
  if (opt == OptimizerKind::adamw) {
    m.optimizer_bytes = 8 * N;
  } else {
    // Adafactor: factored [out,in] projections keep out+in floats, vectors and small tables keep all.
    const int64_t attn = (s.shared_kv ? 3 : 4) * adafactor_state_floats(inner, dm);
    const int64_t ffs = (s.gated() ? 2 : 1) * adafactor_state_floats(ff, dm) + adafactor_state_floats(dm, ff);
    const int64_t enc_attn = s.shared_heads ? 1 : s.el, dec_attn = s.shared_heads ? 1 : s.dl;
    int64_t floats = adafactor_state_floats(V, dm) * (s.tied ? 1 : 2);
    floats += s.el * (ffs + 2 * dm) + s.dl * (ffs + 3 * dm) + (enc_attn + 2 * dec_attn) * attn;
    floats += 2 * adafactor_state_floats(s.relative_buckets, nh) + 2 * dm;
    m.optimizer_bytes = 4 * floats;
  }
  // Activations kept for backward, in floats per example. Per encoder token and layer: residual
  // input and normed input of both sublayers (4 dm), q k v and the attention context (4 inner), the
  // attention probabilities (nh * Le) and the FF hidden (ff; gated keeps gelu input, linear input
  // and their product: 3 ff). Per decoder token and layer: 6 dm, q k v ctx of self-attention and
  // q ctx of cross-attention (6 inner), probabilities nh * (Ld + Le), the FF hidden; plus the
  // cross-attention k and v over the encoder tokens (2 inner per encoder token and layer). Then the
  // embedding outputs, the final norms' inputs and outputs and one V-row of probabilities per
  // decoder token (the logits' gradient reuses it). With skv the keys are the values: one inner fewer
  // per attention and token of its keys.
  const int64_t fh = s.gated() ? 3 : 1, kvs = s.shared_kv ? 1 : 2;
  const int64_t enc_layer = Le * (4 * dm + (2 + kvs) * inner + nh * Le + fh * ff);
  const int64_t dec_layer = Ld * (6 * dm + (4 + kvs) * inner + nh * (Ld + Le) + fh * ff) + Le * kvs * inner;
  const int64_t per_example = s.el * enc_layer + s.dl * dec_layer + (Le + Ld) * 3 * dm + Ld * V;
  m.activations_bytes = 4 * B * per_example;
  m.training_total_bytes = m.weights_fp32_bytes + m.gradients_bytes + m.optimizer_bytes + m.activations_bytes;
  return m;
}

nlohmann::json to_json(const ParamBreakdown& p) {
  return {{"embedding", p.embedding}, {"encoder", p.encoder},       {"decoder", p.decoder},
          {"lm_head", p.lm_head},     {"norms", p.norms},           {"relative_bias", p.relative_bias},
          {"final_norms", p.final_norms}, {"total", p.total}, {"non_embedding", p.non_embedding}};
}

nlohmann::json to_json(const FlopBreakdown& f) {
  return {{"encoder_attention", f.encoder_attention},
          {"encoder_feed_forward", f.encoder_feed_forward},
          {"decoder_self_attention", f.decoder_self_attention},
          {"decoder_cross_attention", f.decoder_cross_attention},
          {"decoder_feed_forward", f.decoder_feed_forward},
          {"lm_head", f.lm_head},
          {"forward_per_example", f.forward_per_example},
          {"train_per_step", f.train_per_step},
          {"kaplan_6n_per_step", f.kaplan_6n_per_step}};
}

nlohmann::json to_json(const MemoryEstimate& m) {
  return {{"weights_fp32_bytes", m.weights_fp32_bytes}, {"weights_bf16_bytes", m.weights_bf16_bytes},
          {"gradients_bytes", m.gradients_bytes},       {"optimizer_bytes", m.optimizer_bytes},
          {"activations_bytes", m.activations_bytes},   {"training_total_bytes", m.training_total_bytes}};
}

}  // namespace t5
