// Greedy decoding and beam search (downstream/generate.h). Two parts:
//
// The search (greedy(), beam_search()) sees the model only as a StepModel: next-token logits for the
// rows of one step, each row extending a row of the step before (its parent). Beam search follows
// transformers' BeamSearchScorer.process / finalize and BeamHypotheses.add / is_done (>= 4.36, with
// decoder_prompt_len = 1 for the decoder start token): per example, the top 2·num_beams of
// (beam score + log_softmax) over num_beams × V; an EOS candidate becomes a finished hypothesis only
// from ranks < num_beams, scored sum_logprobs / generated_len^length_penalty, generated_len counting
// the EOS; the first num_beams non-EOS candidates are the next beams; an example is done when
// num_beams hypotheses are finished and (early_stopping) or (the best candidate's sum / (t + 1)^lp
// cannot beat the worst kept one); at max_new_tokens its open beams join the hypotheses with their
// length. The output is the best hypothesis (the last added among equal scores, as sorted().pop()),
// followed by EOS when it ended with one. Rows of finished examples (and in greedy, finished rows)
// are dropped instead of being fed padding as HF does: their outputs are the same, their cost is not.
//
// The decoders:
// - CachedDecoder runs the encoder once per batch (the training kernels of core/layers.h and the GEMM
//   backend of core/gemm.h), computes every decoder layer's cross-attention K and V once from its
//   output ([example, head, Le, kv], shared by an example's beams), and then one decoder position per
//   step: fused q|k|v projection, the new key and value written into a per-layer self-attention cache
//   [row, head, max_new_tokens, kv], single-query attention over positions 0..t with the causal
//   relative bias by distance, single-query cross-attention over the example's valid encoder
//   positions, feed-forward, final norm (× dm^-½ when tied) and the [rows, V] output head. When rows
//   are reordered (beams) or dropped, the caches of the next step are gathered from the parents'.
// - RecomputeDecoder builds a Batch of every row's whole decoder input and calls Model::logits (the
//   training forward pass, checked against PyTorch in tests/model_test.cpp): the oracle.
#include "downstream/generate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>

#include <omp.h>

#include "core/batch.h"
#include "core/error.h"
#include "core/layers.h"
#include "core/parallel.h"

namespace t5 {
namespace {

// ---------------------------------------------------------------- the step model

class StepModel {
 public:
  virtual ~StepModel() = default;
  // A new batch of examples (encoder token ids, unpadded).
  virtual void begin(const std::vector<const std::vector<int32_t>*>& examples) = 0;
  // Step t (decoder position t): row i belongs to example[i] (an index into begin's examples),
  // extends row parent[i] of step t − 1 (ignored at t = 0) and has the decoder inputs prefix[i]
  // (t + 1 ids starting with the start id). Returns logits [rows, V], valid until the next call.
  virtual const float* step(int64_t t, const std::vector<int32_t>& example, const std::vector<int32_t>& parent,
                            const std::vector<std::vector<int32_t>>& prefix) = 0;
};

// ---------------------------------------------------------------- the search

// First index of the largest logit (torch.argmax; logits are never NaN here). Two vectorised passes.
int32_t argmax(const float* row, int64_t V) {
  float mx = row[0];
#pragma omp simd reduction(max : mx)
  for (int64_t v = 0; v < V; ++v) mx = std::max(mx, row[v]);
  return int32_t(std::find(row, row + V, mx) - row);
}

// log Σ exp(row) in double.
double log_sum_exp(const float* row, int64_t V) {
  const float mx = *std::max_element(row, row + V);
  double sum = 0;
  for (int64_t v = 0; v < V; ++v) sum += std::exp(double(row[v]) - double(mx));
  return double(mx) + std::log(sum);
}

std::vector<std::vector<int32_t>> greedy(StepModel& m, int64_t n, int64_t V, const GenerateOptions& o) {
  std::vector<std::vector<int32_t>> out(static_cast<size_t>(n)), prefix(size_t(n), {kDecoderStartId});
  std::vector<int32_t> example(static_cast<size_t>(n)), parent(static_cast<size_t>(n));
  std::iota(example.begin(), example.end(), 0);
  std::iota(parent.begin(), parent.end(), 0);
  for (int64_t t = 0; t < o.max_new_tokens && !example.empty(); ++t) {
    const float* logits = m.step(t, example, parent, prefix);
    std::vector<int32_t> next_example, next_parent;
    std::vector<std::vector<int32_t>> next_prefix;
    for (size_t i = 0; i < example.size(); ++i) {
      const int32_t token = argmax(logits + int64_t(i) * V, V);
      out[size_t(example[i])].push_back(token);
      if (token == kEosId && !o.ignore_eos) continue;  // this row is finished
      next_example.push_back(example[i]);
      next_parent.push_back(int32_t(i));
      prefix[i].push_back(token);
      next_prefix.push_back(std::move(prefix[i]));
    }
    example.swap(next_example), parent.swap(next_parent), prefix.swap(next_prefix);
  }
  return out;
}

// transformers' BeamHypotheses: the num_beams best finished hypotheses of one example.
struct BeamHypotheses {
  struct Hypothesis {
    double score;
    std::vector<int32_t> tokens;  // generated, without the start id and without EOS
    bool eos;
  };
  int64_t num_beams;
  double length_penalty;
  bool early_stopping;
  std::vector<Hypothesis> beams;  // in the order HF's list holds them
  double worst_score = 1e9;

  void add(const std::vector<int32_t>& tokens, bool eos, double sum_logprobs, int64_t generated_len) {
    const double score = sum_logprobs / std::pow(double(generated_len), length_penalty);
    if (int64_t(beams.size()) < num_beams || score > worst_score) {
      beams.push_back({score, tokens, eos});
      if (int64_t(beams.size()) > num_beams) {
        // sorted([(s, idx)]): delete the first, the second's score is the new worst.
        std::vector<size_t> order(beams.size());
        std::iota(order.begin(), order.end(), size_t(0));
        std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
          return beams[a].score != beams[b].score ? beams[a].score < beams[b].score : a < b;
        });
        worst_score = beams[order[1]].score;
        beams.erase(beams.begin() + std::ptrdiff_t(order[0]));
      } else {
        worst_score = std::min(score, worst_score);
      }
    }
  }

  bool is_done(double best_sum_logprobs, int64_t generated_len) const {
    if (int64_t(beams.size()) < num_beams) return false;
    if (early_stopping) return true;
    return worst_score >= best_sum_logprobs / std::pow(double(generated_len), length_penalty);
  }

  // sorted(beams, key=score).pop(): the highest score, the last of equals.
  const Hypothesis& best() const {
    size_t b = 0;
    for (size_t i = 1; i < beams.size(); ++i)
      if (beams[i].score >= beams[b].score) b = i;
    return beams[b];
  }
};

struct Candidate {
  double score;
  int64_t flat;  // beam · V + token
};
// Descending score; equal scores by ascending flat index (torch.topk leaves ties unspecified).
bool better(const Candidate& a, const Candidate& b) { return a.score != b.score ? a.score > b.score : a.flat < b.flat; }

std::vector<std::vector<int32_t>> beam_search(StepModel& m, int64_t n, int64_t V, const GenerateOptions& o) {
  const int64_t K = o.num_beams, top = 2 * K;
  struct ExampleState {
    BeamHypotheses hyps;
    bool done = false;
    std::vector<double> beam_scores;
  };
  std::vector<ExampleState> ex(static_cast<size_t>(n));
  std::vector<int32_t> example, parent;
  std::vector<std::vector<int32_t>> prefix;
  for (int64_t e = 0; e < n; ++e) {
    ex[size_t(e)].hyps = BeamHypotheses{K, o.length_penalty, o.early_stopping, {}, 1e9};
    ex[size_t(e)].beam_scores.assign(size_t(K), -1e9);
    ex[size_t(e)].beam_scores[0] = 0.0;  // only the first beam is live at the start
    for (int64_t k = 0; k < K; ++k) {
      example.push_back(int32_t(e));
      parent.push_back(int32_t(example.size() - 1));
      prefix.push_back({kDecoderStartId});
    }
  }
  std::vector<Candidate> cands, row_top;
  std::vector<int64_t> idx(static_cast<size_t>(V));
  int64_t t = 0;
  for (; t < o.max_new_tokens && !example.empty(); ++t) {
    const float* logits = m.step(t, example, parent, prefix);
    std::vector<int32_t> next_example, next_parent;
    std::vector<std::vector<int32_t>> next_prefix;
    for (size_t r0 = 0; r0 < example.size(); r0 += size_t(K)) {  // one example's K rows
      ExampleState& st = ex[size_t(example[r0])];
      cands.clear();
      for (int64_t k = 0; k < K; ++k) {  // each beam's best `top` tokens hold the example's best `top`
        const float* row = logits + (int64_t(r0) + k) * V;
        const double lse = log_sum_exp(row, V);
        std::iota(idx.begin(), idx.end(), int64_t(0));
        const int64_t keep = std::min(top, V);
        auto by_logit = [&](int64_t a, int64_t b) { return row[a] != row[b] ? row[a] > row[b] : a < b; };
        std::nth_element(idx.begin(), idx.begin() + (keep - 1), idx.end(), by_logit);
        for (int64_t j = 0; j < keep; ++j)
          cands.push_back({double(row[idx[size_t(j)]]) - lse + st.beam_scores[size_t(k)], k * V + idx[size_t(j)]});
      }
      std::sort(cands.begin(), cands.end(), better);
      cands.resize(size_t(std::min<int64_t>(top, int64_t(cands.size()))));
      std::vector<double> scores;
      int64_t beam_idx = 0;
      for (size_t rank = 0; rank < cands.size() && beam_idx < K; ++rank) {
        const int64_t k = cands[rank].flat / V;
        const auto token = int32_t(cands[rank].flat % V);
        const std::vector<int32_t>& from = prefix[r0 + size_t(k)];
        if (token == kEosId) {
          if (int64_t(rank) >= K) continue;  // EOS outside the top num_beams is not a hypothesis
          st.hyps.add(std::vector<int32_t>(from.begin() + 1, from.end()), true, cands[rank].score, t + 1);
        } else {
          next_example.push_back(example[r0]);
          next_parent.push_back(int32_t(r0 + size_t(k)));
          next_prefix.push_back(from);
          next_prefix.back().push_back(token);
          scores.push_back(cands[rank].score);
          ++beam_idx;
        }
      }
      T5_CHECK(beam_idx == K, "beam search: fewer than {} non-EOS candidates (vocabulary of {})", K, V);
      st.beam_scores = scores;
      st.done = st.hyps.is_done(cands[0].score, t + 1);
      if (st.done) {  // its new beams are not needed
        next_example.resize(next_example.size() - size_t(K));
        next_parent.resize(next_parent.size() - size_t(K));
        next_prefix.resize(next_prefix.size() - size_t(K));
      }
    }
    example.swap(next_example), parent.swap(next_parent), prefix.swap(next_prefix);
  }
  // Open beams at max_new_tokens join the hypotheses with their generated length.
  for (size_t r0 = 0; r0 < example.size(); r0 += size_t(K)) {
    ExampleState& st = ex[size_t(example[r0])];
    for (int64_t k = 0; k < K; ++k) {
      const std::vector<int32_t>& p = prefix[r0 + size_t(k)];
      st.hyps.add(std::vector<int32_t>(p.begin() + 1, p.end()), false, st.beam_scores[size_t(k)],
                  int64_t(p.size()) - 1);
    }
  }
  std::vector<std::vector<int32_t>> out(static_cast<size_t>(n));
  for (int64_t e = 0; e < n; ++e) {
    const BeamHypotheses::Hypothesis& h = ex[size_t(e)].hyps.best();
    out[size_t(e)] = h.tokens;
    if (h.eos) out[size_t(e)].push_back(kEosId);
  }
  return out;
}

// ---------------------------------------------------------------- the cached decoder

struct AttentionOffsets {
  int64_t norm, q, k, v, o;
  bool qkv_fused;  // q, k and v stored one after another: one [3·inner, dm] product
};
struct FeedForwardOffsets {
  int64_t norm, wi, wi_0, wi_1, wo;
};

// Rows per thread at least in a decoder step (fewer rows run on fewer threads).
constexpr int64_t kMinRowsPerThread = 4;

class CachedDecoder final : public StepModel {
 public:
  CachedDecoder(const Model& model, int64_t max_rows, int64_t max_steps)
      : s_(model.shape()), P_(model.params()), max_rows_(max_rows), T_(max_steps) {
    const ParamTable& table = model.table();
    const int64_t dm = s_.dm, inner = s_.inner();
    auto off = [&](int stack, int layer, Role role, int sub) { return table.get(stack, layer, role, sub).offset; };
    auto attention = [&](int stack, int layer, int sub) {
      AttentionOffsets a{off(stack, layer, Role::norm, sub), off(stack, layer, Role::q, sub),
                         off(stack, layer, Role::k, sub), off(stack, layer, Role::v, sub),
                         off(stack, layer, Role::o, sub), false};
      a.qkv_fused = a.k == a.q + inner * dm && a.v == a.k + inner * dm;
      return a;
    };
    auto feed_forward = [&](int stack, int layer, int sub) {
      const bool g = s_.gated();
      return FeedForwardOffsets{off(stack, layer, Role::norm, sub), g ? -1 : off(stack, layer, Role::wi, sub),
                                g ? off(stack, layer, Role::wi_0, sub) : -1,
                                g ? off(stack, layer, Role::wi_1, sub) : -1, off(stack, layer, Role::wo, sub)};
    };
    for (int i = 0; i < s_.el; ++i) enc_attn_.push_back(attention(0, i, 0)), enc_ff_.push_back(feed_forward(0, i, 1));
    for (int i = 0; i < s_.dl; ++i) {
      dec_self_.push_back(attention(1, i, 0));
      dec_cross_.push_back(attention(1, i, 1));
      dec_ff_.push_back(feed_forward(1, i, 2));
    }
    shared_ = table.at("shared.weight").offset;
    out_w_ = s_.tied ? shared_ : table.at("lm_head.weight").offset;
    enc_table_ = off(0, -1, Role::relative_bias, 0);
    dec_table_ = off(1, -1, Role::relative_bias, 0);
    enc_final_ = off(0, -1, Role::final_norm, -1);
    dec_final_ = off(1, -1, Role::final_norm, -1);

    const size_t cache = size_t(max_rows_ * s_.nh * T_ * s_.kv);
    self_k_.assign(size_t(s_.dl), std::vector<float>(cache));
    self_v_.assign(size_t(s_.dl), std::vector<float>(cache));
    spare_.resize(cache);
    const int64_t R = max_rows_, width = 3 * inner;
    y_.resize(size_t(R * dm)), xn_.resize(size_t(R * dm)), out_.resize(size_t(R * dm));
    proj_.resize(size_t(R * width)), ctx_.resize(size_t(R * inner)), hidden_.resize(size_t(R * s_.ff));
    if (s_.gated()) gate_a_.resize(size_t(R * s_.ff)), gate_b_.resize(size_t(R * s_.ff));
    logits_.resize(size_t(R * s_.vocab_size));
    tokens_.resize(size_t(R));
  }

  void begin(const std::vector<const std::vector<int32_t>*>& examples) override {
    const int64_t B = int64_t(examples.size()), dm = s_.dm, inner = s_.inner(), nh = s_.nh, kv = s_.kv;
    Le_ = 0;
    for (const auto* e : examples) Le_ = std::max(Le_, int64_t(e->size()));
    const int64_t Ne = B * Le_;
    // Causal relative bias of decoder self-attention by distance d = query − key, [nh, T] (read from
    // the weights at every batch: a Generator outlives optimizer steps that change them).
    dec_bias_.resize(size_t(nh * T_));
    for (int64_t d = 0; d < T_; ++d) {
      const int bucket = relative_position_bucket(-d, false, s_.relative_buckets, s_.relative_max_distance);
      for (int64_t h = 0; h < nh; ++h) dec_bias_[size_t(h * T_ + d)] = P_[dec_table_ + bucket * nh + h];
    }
    std::vector<int32_t> ids(size_t(Ne), kPadId), seg(size_t(Ne), 0);
    lengths_.assign(size_t(B), 0);
    for (int64_t b = 0; b < B; ++b) {
      const auto& e = *examples[size_t(b)];
      std::copy(e.begin(), e.end(), ids.begin() + b * Le_);
      std::fill_n(seg.begin() + b * Le_, e.size(), 1);
      lengths_[size_t(b)] = int64_t(e.size());
    }
    // ---- encoder (the model's pass without dropout): x += SelfAttn(norm(x)); x += FF(norm(x))
    EncoderScratch& w = enc_;  // kept between batches: no page faults on fresh memory every batch
    const int64_t qkv_width = enc_attn_[0].qkv_fused ? 3 * inner : inner;
    for (auto [v, size] : {std::pair{&w.x, Ne * dm}, {&w.xn, Ne * dm}, {&w.rstd, Ne}, {&w.out, Ne * dm},
                           {&w.bias, nh * Le_ * Le_}, {&w.proj, Ne * std::max(qkv_width, 2 * inner)},
                           {&w.q, Ne * inner}, {&w.k, Ne * inner}, {&w.v, Ne * inner}, {&w.ctx, Ne * inner},
                           {&w.probs, B * nh * Le_ * Le_}, {&w.a, Ne * s_.ff}, {&w.b, s_.gated() ? Ne * s_.ff : 0},
                           {&w.h, Ne * s_.ff}, {&enc_out_, Ne * dm}})
      if (int64_t(v->size()) < size) v->resize(size_t(size));
    embedding_forward(w.x.data(), ids.data(), P_ + shared_, Ne, dm);
    relative_bias_forward(w.bias.data(), P_ + enc_table_, nh, Le_, Le_, true, s_.relative_buckets,
                          s_.relative_max_distance);
    const AttentionDims d{B, nh, Le_, Le_, kv};
    for (int64_t l = 0; l < s_.el; ++l) {
      const AttentionOffsets& ap = enc_attn_[size_t(l)];
      rmsnorm_forward(w.xn.data(), w.rstd.data(), w.x.data(), P_ + ap.norm, Ne, dm, s_.layer_norm_epsilon);
      if (ap.qkv_fused) {  // one [Ne, 3·inner] product, then q | k | v into the head layout
        linear_forward(w.proj.data(), w.xn.data(), P_ + ap.q, Ne, dm, 3 * inner);
        int64_t col = 0;
        for (std::vector<float>* dst : {&w.q, &w.k, &w.v})
          split_heads_from(dst->data(), w.proj.data(), 3 * inner, inner * col++, B, Le_);
      } else {
        for (auto [wt, dst] : {std::pair{ap.q, &w.q}, std::pair{ap.k, &w.k}, std::pair{ap.v, &w.v}}) {
          linear_forward(w.proj.data(), w.xn.data(), P_ + wt, Ne, dm, inner);
          split_heads_from(dst->data(), w.proj.data(), inner, 0, B, Le_);
        }
      }
      attention_forward(w.ctx.data(), w.probs.data(), static_cast<float*>(nullptr), w.q.data(), w.k.data(),
                        w.v.data(), w.bias.data(), seg.data(), seg.data(), false, d, Dropout{});
      merge_heads(w.proj.data(), w.ctx.data(), B, Le_, nh, kv);
      linear_forward(w.out.data(), w.proj.data(), P_ + ap.o, Ne, inner, dm);
      add_into(w.x.data(), w.out.data(), Ne * dm);
      feed_forward(enc_ff_[size_t(l)], w.x.data(), w.xn.data(), w.rstd.data(), w.a.data(), w.b.data(), w.h.data(),
                   w.out.data(), Ne);
    }
    rmsnorm_forward(enc_out_.data(), w.rstd.data(), w.x.data(), P_ + enc_final_, Ne, dm, s_.layer_norm_epsilon);
    // ---- every decoder layer's cross-attention keys and values, once: [B, nh, Le, kv]
    cross_k_.resize(size_t(s_.dl)), cross_v_.resize(size_t(s_.dl));
    for (int64_t l = 0; l < s_.dl; ++l) {
      const AttentionOffsets& ap = dec_cross_[size_t(l)];
      for (std::vector<float>* c : {&cross_k_[size_t(l)], &cross_v_[size_t(l)]})
        if (int64_t(c->size()) < Ne * inner) c->resize(size_t(Ne * inner));
      if (ap.v == ap.k + inner * dm) {  // k and v stored together: one [Ne, 2·inner] product
        linear_forward(w.proj.data(), enc_out_.data(), P_ + ap.k, Ne, dm, 2 * inner);
        split_heads_from(cross_k_[size_t(l)].data(), w.proj.data(), 2 * inner, 0, B, Le_);
        split_heads_from(cross_v_[size_t(l)].data(), w.proj.data(), 2 * inner, inner, B, Le_);
      } else {
        linear_forward(w.proj.data(), enc_out_.data(), P_ + ap.k, Ne, dm, inner);
        split_heads_from(cross_k_[size_t(l)].data(), w.proj.data(), inner, 0, B, Le_);
        linear_forward(w.proj.data(), enc_out_.data(), P_ + ap.v, Ne, dm, inner);
        split_heads_from(cross_v_[size_t(l)].data(), w.proj.data(), inner, 0, B, Le_);
      }
    }
    scores_.resize(size_t(max_rows_ * nh * std::max(Le_, T_)));
  }

  const float* step(int64_t t, const std::vector<int32_t>& example, const std::vector<int32_t>& parent,
                    const std::vector<std::vector<int32_t>>& prefix) override {
    const int64_t R = int64_t(example.size()), dm = s_.dm;
    T5_CHECK(R <= max_rows_ && t < T_, "generate: internal: {} rows at step {} (room for {} rows, {} steps)", R, t,
             max_rows_, T_);
    if (t > 0) gather_caches(parent, t);
    for (int64_t i = 0; i < R; ++i) tokens_[size_t(i)] = prefix[size_t(i)].back();
    // The decoder layers in one parallel region, the rows split between the threads: every product
    // inside runs on its thread (core/gemm.h plans one thread inside a region), so a step costs one
    // fork and join instead of one per product and attention loop (on a shared machine each join
    // waits for the slowest thread's time slice).
    const int threads = int(std::clamp<int64_t>(R / kMinRowsPerThread, 1, omp_get_max_threads()));
    FirstException errors;
#pragma omp parallel num_threads(threads)
    errors.run([&] {
      const int64_t n = omp_get_num_threads(), id = omp_get_thread_num();
      const int64_t r0 = R * id / n, r1 = R * (id + 1) / n;
      if (r1 > r0) decode_rows(t, example, r0, r1);
    });
    errors.rethrow();
    rms_norm_rows(xn_.data(), y_.data(), P_ + dec_final_, R);
    if (s_.tied) {  // Mesh TF / HF: tied embeddings rescale the decoder output by dm^-½
      const float scale = float(1.0 / std::sqrt(double(dm)));
      for (int64_t i = 0; i < R * dm; ++i) xn_[size_t(i)] *= scale;
    }
    linear_forward(logits_.data(), xn_.data(), P_ + out_w_, R, dm, s_.vocab_size);  // all threads
    return logits_.data();
  }

 private:
  struct EncoderScratch {
    std::vector<float> x, xn, rstd, out, bias, proj, q, k, v, ctx, probs, a, b, h;
  };

  // dst [B, nh, L, kv] (head layout) from the columns [col, col + nh·kv) of src [B·L, ld].
  void split_heads_from(float* dst, const float* src, int64_t ld, int64_t col, int64_t B, int64_t L) const {
    const int64_t nh = s_.nh, kv = s_.kv;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t hd = 0; hd < nh; ++hd)
        for (int64_t l = 0; l < L; ++l)
          std::copy_n(src + (b * L + l) * ld + col + hd * kv, kv, dst + ((b * nh + hd) * L + l) * kv);
  }

  // Rows [r0, r1) of a step through every decoder layer, on the calling thread. Scratch buffers are
  // [rows, ...] and each thread touches its rows only.
  void decode_rows(int64_t t, const std::vector<int32_t>& example, int64_t r0, int64_t r1) {
    const int64_t n = r1 - r0, dm = s_.dm, inner = s_.inner(), nh = s_.nh, kv = s_.kv, ff = s_.ff;
    const int64_t score_len = std::max(Le_, T_);
    float* y = y_.data() + r0 * dm;
    float* xn = xn_.data() + r0 * dm;
    float* proj = proj_.data() + r0 * 3 * inner;
    float* ctx = ctx_.data() + r0 * inner;
    float* out = out_.data() + r0 * dm;
    for (int64_t i = 0; i < n; ++i)
      std::copy_n(P_ + shared_ + int64_t(tokens_[size_t(r0 + i)]) * dm, dm, y + i * dm);
    for (int64_t l = 0; l < s_.dl; ++l) {
      // ---- self-attention: the new key and value join the cache at position t
      const AttentionOffsets& sp = dec_self_[size_t(l)];
      rms_norm_rows(xn, y, P_ + sp.norm, n);
      if (sp.qkv_fused) {
        linear_forward(proj, xn, P_ + sp.q, n, dm, 3 * inner);
      } else {
        int64_t c = 0;
        for (int64_t w : {sp.q, sp.k, sp.v})
          matmul<float>(Trans::N, Trans::T, n, inner, dm, 1.0f, xn, dm, P_ + w, dm, 0.0f, proj + inner * c++,
                        3 * inner);
      }
      float* K = self_k_[size_t(l)].data();
      float* V = self_v_[size_t(l)].data();
      for (int64_t rh = r0 * nh; rh < r1 * nh; ++rh) {
        const int64_t i = rh / nh, hd = rh % nh;
        const float* src = proj_.data() + i * 3 * inner + hd * kv;
        std::copy_n(src + inner, kv, K + (rh * T_ + t) * kv);
        std::copy_n(src + 2 * inner, kv, V + (rh * T_ + t) * kv);
        attend(ctx_.data() + i * inner + hd * kv, src, K + rh * T_ * kv, V + rh * T_ * kv, t + 1,
               dec_bias_.data() + hd * T_, t, scores_.data() + rh * score_len);
      }
      linear_forward(out, ctx, P_ + sp.o, n, inner, dm);
      add_rows(y, out, n * dm);
      // ---- cross-attention over the example's encoder positions
      const AttentionOffsets& cp = dec_cross_[size_t(l)];
      rms_norm_rows(xn, y, P_ + cp.norm, n);
      linear_forward(proj, xn, P_ + cp.q, n, dm, inner);
      const float* CK = cross_k_[size_t(l)].data();
      const float* CV = cross_v_[size_t(l)].data();
      for (int64_t rh = r0 * nh; rh < r1 * nh; ++rh) {
        const int64_t i = rh / nh, hd = rh % nh, e = example[size_t(i)];
        const int64_t head = (e * nh + hd) * Le_ * kv;
        attend(ctx_.data() + i * inner + hd * kv, proj + (i - r0) * inner + hd * kv, CK + head, CV + head,
               lengths_[size_t(e)], nullptr, 0, scores_.data() + rh * score_len);
      }
      linear_forward(out, ctx, P_ + cp.o, n, inner, dm);
      add_rows(y, out, n * dm);
      // ---- feed-forward: y += wo · act(norm(y))
      const FeedForwardOffsets& fp = dec_ff_[size_t(l)];
      float* h = hidden_.data() + r0 * ff;
      rms_norm_rows(xn, y, P_ + fp.norm, n);
      if (s_.gated()) {
        float* a = gate_a_.data() + r0 * ff;
        float* b = gate_b_.data() + r0 * ff;
        linear_forward(a, xn, P_ + fp.wi_0, n, dm, ff);
        linear_forward(b, xn, P_ + fp.wi_1, n, dm, ff);
        for (int64_t i = 0; i < n * ff; ++i) h[i] = gelu_tanh(a[i]) * b[i];
      } else {
        linear_forward(h, xn, P_ + fp.wi, n, dm, ff);
        for (int64_t i = 0; i < n * ff; ++i) h[i] = std::max(h[i], 0.0f);
      }
      linear_forward(out, h, P_ + fp.wo, n, ff, dm);
      add_rows(y, out, n * dm);
    }
  }

  // A step works on a few rows: its element-wise operations run on the calling thread (a parallel
  // region's fork and join cost more than they save at this size, and much more on a loaded machine).
  static void add_rows(float* x, const float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) x[i] += y[i];
  }

  // out = x · rsqrt(mean(x²) + eps) · w per row (T5LayerNorm), on the calling thread.
  void rms_norm_rows(float* out, const float* x, const float* w, int64_t rows) const {
    const int64_t d = s_.dm;
    for (int64_t i = 0; i < rows; ++i) {
      const float* xi = x + i * d;
      float ss = 0;
#pragma omp simd reduction(+ : ss)
      for (int64_t j = 0; j < d; ++j) ss += xi[j] * xi[j];
      const float r = 1.0f / std::sqrt(ss / float(d) + float(s_.layer_norm_epsilon));
      for (int64_t j = 0; j < d; ++j) out[i * d + j] = xi[j] * r * w[j];
    }
  }

  static void add_into(float* x, const float* y, int64_t n) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) x[i] += y[i];
  }

  // x += wo · act(norm(x)); a, b [N, ff] pre-activations (b gated only), h [N, ff], out [N, dm] scratch.
  void feed_forward(const FeedForwardOffsets& fp, float* x, float* xn, float* rstd, float* a, float* b, float* h,
                    float* out, int64_t N) const {
    const int64_t dm = s_.dm, ff = s_.ff;
    rmsnorm_forward(xn, rstd, x, P_ + fp.norm, N, dm, s_.layer_norm_epsilon);
    if (s_.gated()) {
      linear_forward(a, xn, P_ + fp.wi_0, N, dm, ff);
      linear_forward(b, xn, P_ + fp.wi_1, N, dm, ff);
      gated_gelu_forward(h, a, b, N * ff);
    } else {
      linear_forward(h, xn, P_ + fp.wi, N, dm, ff);
      relu_forward(h, h, N * ff);
    }
    linear_forward(out, h, P_ + fp.wo, N, ff, dm);
    add_into(x, out, N * dm);
  }

  // One query against n keys/values [n, kv]: ctx = softmax(q·Kᵀ + bias) · V (no 1/sqrt(kv), SPEC §4).
  // bias (self-attention) is indexed by distance: key s gets bias[t − s]; null = none (cross).
  void attend(float* ctx, const float* q, const float* K, const float* V, int64_t n, const float* bias, int64_t t,
              float* scores) const {
    const int64_t kv = s_.kv;
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t s = 0; s < n; ++s) {
      const float* k = K + s * kv;
      float dot = 0;
#pragma omp simd reduction(+ : dot)
      for (int64_t j = 0; j < kv; ++j) dot += q[j] * k[j];
      if (bias) dot += bias[t - s];
      scores[s] = dot;
      mx = std::max(mx, dot);
    }
    float sum = 0;
    for (int64_t s = 0; s < n; ++s) sum += (scores[s] = std::exp(scores[s] - mx));
    const float inv = 1.0f / sum;
    std::fill_n(ctx, kv, 0.0f);
    for (int64_t s = 0; s < n; ++s) {
      const float p = scores[s] * inv;
      const float* v = V + s * kv;
#pragma omp simd
      for (int64_t j = 0; j < kv; ++j) ctx[j] += p * v[j];
    }
  }

  // Row i of this step continues row parent[i] of the last: its cached positions 0..t−1 move along.
  void gather_caches(const std::vector<int32_t>& parent, int64_t t) {
    const int64_t R = int64_t(parent.size()), nh = s_.nh, kv = s_.kv;
    bool identity = true;
    for (int64_t i = 0; i < R; ++i) identity = identity && parent[size_t(i)] == i;
    if (identity) return;  // the same rows, or the last ones dropped
    for (int64_t l = 0; l < s_.dl; ++l)
      for (std::vector<float>* cache : {&self_k_[size_t(l)], &self_v_[size_t(l)]}) {
        const float* from = cache->data();
        float* to = spare_.data();
#pragma omp parallel for schedule(static)
        for (int64_t rh = 0; rh < R * nh; ++rh) {
          const int64_t i = rh / nh, hd = rh % nh;
          std::copy_n(from + ((parent[size_t(i)] * nh + hd) * T_) * kv, t * kv, to + rh * T_ * kv);
        }
        cache->swap(spare_);
      }
  }

  const Shape& s_;
  const float* P_;
  int64_t max_rows_, T_, Le_ = 0;
  std::vector<AttentionOffsets> enc_attn_, dec_self_, dec_cross_;
  std::vector<FeedForwardOffsets> enc_ff_, dec_ff_;
  int64_t shared_ = 0, out_w_ = 0, enc_table_ = 0, dec_table_ = 0, enc_final_ = 0, dec_final_ = 0;
  std::vector<float> dec_bias_;                       // [nh, T] by distance
  std::vector<std::vector<float>> self_k_, self_v_;   // per layer [rows, nh, T, kv]
  std::vector<float> spare_;                          // gather target, swapped in
  std::vector<std::vector<float>> cross_k_, cross_v_; // per layer [examples, nh, Le, kv]
  std::vector<float> enc_out_;
  EncoderScratch enc_;
  std::vector<int64_t> lengths_;                      // valid encoder positions per example
  std::vector<int32_t> tokens_;
  std::vector<float> y_, xn_, out_, proj_, ctx_, hidden_, gate_a_, gate_b_, logits_, scores_;
};

// ---------------------------------------------------------------- the recomputing decoder (oracle)

class RecomputeDecoder final : public StepModel {
 public:
  explicit RecomputeDecoder(Model& model) : model_(model) {}

  void begin(const std::vector<const std::vector<int32_t>*>& examples) override {
    examples_ = examples;
    Le_ = 0;
    for (const auto* e : examples) Le_ = std::max(Le_, int64_t(e->size()));
  }

  const float* step(int64_t t, const std::vector<int32_t>& example, const std::vector<int32_t>&,
                    const std::vector<std::vector<int32_t>>& prefix) override {
    const int64_t R = int64_t(example.size()), Ld = t + 1, V = model_.shape().vocab_size;
    Batch b;
    b.batch = R, b.inputs_length = Le_, b.targets_length = Ld;
    b.input_ids.assign(size_t(R * Le_), kPadId);
    b.encoder_segment_ids.assign(size_t(R * Le_), 0);
    b.decoder_segment_ids.assign(size_t(R * Ld), 1);
    b.labels.assign(size_t(R * Ld), kIgnoreLabel);
    for (int64_t i = 0; i < R; ++i) {
      const auto& e = *examples_[size_t(example[size_t(i)])];
      std::copy(e.begin(), e.end(), b.input_ids.begin() + i * Le_);
      std::fill_n(b.encoder_segment_ids.begin() + i * Le_, e.size(), 1);
      b.decoder_input_ids.insert(b.decoder_input_ids.end(), prefix[size_t(i)].begin(), prefix[size_t(i)].end());
    }
    const std::vector<float> all = model_.logits(b);
    logits_.resize(size_t(R * V));
    for (int64_t i = 0; i < R; ++i)
      std::copy_n(all.begin() + (i * Ld + t) * V, V, logits_.begin() + i * V);
    return logits_.data();
  }

 private:
  Model& model_;
  std::vector<const std::vector<int32_t>*> examples_;
  int64_t Le_ = 0;
  std::vector<float> logits_;
};

// ---------------------------------------------------------------- batching

void check_request(const Model& model, const std::vector<std::vector<int32_t>>& inputs, const GenerateOptions& o) {
  T5_CHECK(o.max_new_tokens >= 1 && o.max_new_tokens <= 65536, "generate: max_new_tokens must be in [1, 65536], got {}",
           o.max_new_tokens);
  T5_CHECK(o.num_beams >= 1 && o.num_beams <= 1024, "generate: num_beams must be in [1, 1024], got {}", o.num_beams);
  T5_CHECK(o.batch >= 1, "generate: batch must be >= 1, got {}", o.batch);
  T5_CHECK(std::isfinite(o.length_penalty), "generate: length_penalty must be finite, got {}", o.length_penalty);
  T5_CHECK(!o.ignore_eos || o.num_beams == 1, "generate: ignore_eos is for greedy decoding (num_beams 1) only");
  const int64_t V = model.shape().vocab_size;
  T5_CHECK(2 * o.num_beams <= V * o.num_beams && V >= 2, "generate: a vocabulary of {} is too small", V);
  for (size_t i = 0; i < inputs.size(); ++i) {
    T5_CHECK(!inputs[i].empty(), "generate: input {} is empty (T5 inputs end with EOS, id 1)", i);
    for (size_t j = 0; j < inputs[i].size(); ++j)
      T5_CHECK(inputs[i][j] >= 0 && inputs[i][j] < V, "generate: input {} token {} is {}, outside the vocabulary [0, {})",
               i, j, inputs[i][j], V);
  }
}

std::vector<std::vector<int32_t>> run(StepModel& m, int64_t V, const std::vector<std::vector<int32_t>>& inputs,
                                      const GenerateOptions& o) {
  const int64_t n = int64_t(inputs.size());
  std::vector<int64_t> order(static_cast<size_t>(n));  // longest first: less padding, and the largest batch first
  std::iota(order.begin(), order.end(), int64_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return inputs[size_t(a)].size() > inputs[size_t(b)].size(); });
  std::vector<std::vector<int32_t>> out(static_cast<size_t>(n));
  int64_t generated = 0;
  for (int64_t b0 = 0; b0 < n; b0 += o.batch) {
    const int64_t count = std::min(o.batch, n - b0);
    std::vector<const std::vector<int32_t>*> examples;
    for (int64_t i = 0; i < count; ++i) examples.push_back(&inputs[size_t(order[size_t(b0 + i)])]);
    m.begin(examples);
    std::vector<std::vector<int32_t>> got = o.num_beams == 1 ? greedy(m, count, V, o) : beam_search(m, count, V, o);
    for (int64_t i = 0; i < count; ++i) {
      generated += int64_t(got[size_t(i)].size());
      out[size_t(order[size_t(b0 + i)])] = std::move(got[size_t(i)]);
    }
    if (o.progress) o.progress(b0 + count, n, generated);
  }
  return out;
}

}  // namespace

struct Generator::Impl {
  Model& model;
  std::unique_ptr<CachedDecoder> decoder;  // for `rows` rows and `steps` steps
  int64_t rows = 0, steps = 0;
};

Generator::Generator(Model& model) : impl_(std::make_unique<Impl>(Impl{model, nullptr, 0, 0})) {}
Generator::~Generator() = default;

std::vector<std::vector<int32_t>> Generator::generate(const std::vector<std::vector<int32_t>>& inputs,
                                                      const GenerateOptions& options) {
  Impl& g = *impl_;
  check_request(g.model, inputs, options);
  if (inputs.empty()) return {};
  const int64_t rows = std::min<int64_t>(options.batch, int64_t(inputs.size())) * options.num_beams;
  if (!g.decoder || rows > g.rows || options.max_new_tokens != g.steps) {
    g.decoder.reset();  // free the old buffers first
    g.decoder = std::make_unique<CachedDecoder>(g.model, rows, options.max_new_tokens);
    g.rows = rows, g.steps = options.max_new_tokens;
  }
  return run(*g.decoder, g.model.shape().vocab_size, inputs, options);
}

std::vector<std::vector<int32_t>> generate(Model& model, const std::vector<std::vector<int32_t>>& inputs,
                                           const GenerateOptions& options) {
  return Generator(model).generate(inputs, options);
}

std::vector<std::vector<int32_t>> generate_uncached(Model& model, const std::vector<std::vector<int32_t>>& inputs,
                                                    const GenerateOptions& options) {
  check_request(model, inputs, options);
  if (inputs.empty()) return {};
  RecomputeDecoder decoder(model);
  return run(decoder, model.shape().vocab_size, inputs, options);
}

}  // namespace t5
