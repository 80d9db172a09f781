// T5 forward/backward over the single parameter buffer (SPEC.md §4), composed from the layer pairs of
// core/layers.h. The flow mirrors Hugging Face's T5ForConditionalGeneration:
//   encoder: x = dropout(embed(ids)); per block x += dropout(SelfAttn(norm(x))), x += dropout(FF(norm(x)));
//            enc = dropout(final_norm(x))
//   decoder: y likewise with self (causal), cross (keys from enc) and FF sublayers;
//            logits = dropout(final_norm(y)) · (dm^-½ if tied) · Wᵀ, W = shared or lm_head
// Activations of every sublayer are kept in a Workspace allocated once per batch geometry; the
// residual stream is stored as one snapshot per sublayer boundary so backward needs no recompute.
// The output projection runs in row chunks (loss and its gradient per chunk), so the [N, V] logits
// never exist at once during training.
// Sharing flags (core/shape.h): skv computes one projection that serves as keys and values (Mesh TF
// SelfAttention.call: k = v = kv) and sums the two gradients before its single weight gradient; sh
// points every layer's projections at block 0's tensors, whose gradients then accumulate over layers
// (linear_backward adds into dW).
#include "core/model.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/layers.h"
#include "core/mixed_precision.h"
#include "core/parallel.h"
#include "core/profile.h"

namespace t5 {

namespace {

// Rows of logits the output head computes at a time: as many as fit in kHeadChunkBytes together with
// their bf16 copy in bf16 passes (all 928 rows of a tiny 32x29 f32 batch: fewer, longer products,
// and dW's inner dimension is the whole chunk), at least kHeadMinRows, never more than the decoder
// tokens; ForwardOptions::head_chunk_rows overrides it. The analytic memory estimate counts all
// [Nd, V] f32 logits, as PyTorch keeps them; chunks keep large batches well below that.
constexpr int64_t kHeadChunkBytes = int64_t(128) << 20;
constexpr int64_t kHeadMinRows = 64;
int64_t head_chunk_rows(int64_t decoder_tokens, int64_t vocab, int64_t requested, bool bf16) {
  if (requested > 0) return std::min(decoder_tokens, requested);
  const int64_t bytes_per_row = vocab * int64_t(sizeof(float) + (bf16 ? sizeof(bf16) : 0));
  return std::min(decoder_tokens, std::max(kHeadMinRows, kHeadChunkBytes / bytes_per_row));
}
// The head's input gradient dX = dlogits·W has a long inner dimension (the vocabulary) and a small
// output, which one threaded product splits poorly: it is computed as this many vocabulary slices, one
// single-thread product each, summed in slice order (the same result at any thread count).
constexpr int64_t kHeadSlices = 4;

// Offsets into the parameter (and gradient) buffer of one sublayer's tensors.
struct AttentionParams {
  int64_t norm, q, k, v, o;  // skv: k == v, the one "kv" tensor
};
struct FeedForwardParams {
  int64_t norm, wi, wi_0, wi_1, wo;  // wi for ReLU; wi_0, wi_1 for gated-GELU (others −1)
};

// Saved activations of one sublayer.
struct AttentionCache {
  std::vector<float> xn, rstd;      // normed input [Nq, dm], its 1/rms [Nq]
  std::vector<float> q, k, v;       // [B, nh, Lq|Lk, kv]; skv: v stays empty, k serves as both
  std::vector<float> ctx;           // merged context [Nq, inner]
  std::vector<float> probs;         // [B, nh, Lq, Lk]
};
struct FeedForwardCache {
  std::vector<float> xn, rstd;  // [N, dm], [N]
  std::vector<float> a, b, h;   // gated: pre-activations a, b [N, ff]; hidden h [N, ff] after dropout
                                // (ReLU keeps only h: its backward masks by h > 0, core/layers.h)
};

// Dropout sites: one id per place dropout is applied (stack, block, what).
enum DropKind : uint64_t { kEmbed = 1, kAttnProbs, kAttnOut, kFFHidden, kFFOut, kFinal };
Dropout dropout_at(const ForwardOptions& opt, int stack, int layer, int sublayer, DropKind kind) {
  return Dropout{opt.dropout, opt.seed,
                 (uint64_t(stack + 1) << 40) | (uint64_t(layer + 1) << 16) | (uint64_t(sublayer + 1) << 8) | kind};
}

void resize(std::vector<float>& v, int64_t n) { v.assign(size_t(n), 0.0f); }

}  // namespace

struct Model::Workspace {
  // Parameter offsets, fixed for the model's lifetime.
  std::vector<AttentionParams> enc_attn, dec_self, dec_cross;
  std::vector<FeedForwardParams> enc_ff, dec_ff;
  int64_t shared = 0, lm_head = -1, enc_table = 0, dec_table = 0, enc_final = 0, dec_final = 0;

  // Geometry of the buffers below (allocated by ensure()).
  int64_t B = -1, Le = -1, Ld = -1;
  std::vector<float> enc_res;   // [2·el + 1, Ne, dm] residual stream at each sublayer boundary
  std::vector<float> dec_res;   // [3·dl + 1, Nd, dm]
  std::vector<float> enc_out, enc_rstd;   // final-normed encoder output [Ne, dm], [Ne]
  std::vector<float> dec_out, dec_rstd;   // final-normed decoder output (after dropout, scaled if tied)
  std::vector<AttentionCache> enc_attn_c, dec_self_c, dec_cross_c;
  std::vector<FeedForwardCache> enc_ff_c, dec_ff_c;
  std::vector<float> enc_bias, dec_bias, denc_bias, ddec_bias;  // [nh, L, L]
  std::vector<int32_t> labels;                                  // [Nd], −1 where no loss
  // Scratch shared by all sublayers.
  std::vector<float> scores;          // [B, nh, max Lq·Lk]
  std::vector<float> proj;            // [max N, inner] merged projection before split / after merge
  std::vector<float> dq, dk, dv;      // [max N, inner] head layout
  std::vector<float> dctx;            // [max N, inner] head layout
  std::vector<float> out;             // [max N, dm] sublayer output / its gradient
  std::vector<float> dxn;             // [max N, dm]
  std::vector<float> dh, da, db;      // [max N, ff] (da, db gated only)
  std::vector<float> dx_enc, dx_dec, d_enc_out;  // running residual gradients
  std::vector<float> logits;          // [head chunk rows, V]
  std::vector<float> head_dx;         // [kHeadSlices, head chunk rows, dm] partial head input gradients
  std::vector<bf16> params16;         // bf16 passes: the weights' bf16 mirror, refreshed every pass

  void ensure(const Shape& s, int64_t b, int64_t le, int64_t ld);
};

void Model::Workspace::ensure(const Shape& s, int64_t b, int64_t le, int64_t ld) {
  if (b == B && le == Le && ld == Ld) return;
  B = b, Le = le, Ld = ld;
  const int64_t Ne = B * Le, Nd = B * Ld, Nmax = std::max(Ne, Nd), dm = s.dm, inner = s.inner(), nh = s.nh;
  resize(enc_res, (2 * s.el + 1) * Ne * dm);
  resize(dec_res, (3 * s.dl + 1) * Nd * dm);
  resize(enc_out, Ne * dm), resize(enc_rstd, Ne), resize(dec_out, Nd * dm), resize(dec_rstd, Nd);
  auto attention = [&](AttentionCache& c, int64_t Lq, int64_t Lk) {
    resize(c.xn, B * Lq * dm), resize(c.rstd, B * Lq);
    resize(c.q, B * Lq * inner), resize(c.k, B * Lk * inner), resize(c.v, s.shared_kv ? 0 : B * Lk * inner);
    resize(c.ctx, B * Lq * inner), resize(c.probs, B * nh * Lq * Lk);
  };
  auto feed_forward = [&](FeedForwardCache& c, int64_t N) {
    resize(c.xn, N * dm), resize(c.rstd, N), resize(c.h, N * s.ff);
    if (s.gated()) resize(c.a, N * s.ff), resize(c.b, N * s.ff);
  };
  enc_attn_c.resize(size_t(s.el)), enc_ff_c.resize(size_t(s.el));
  dec_self_c.resize(size_t(s.dl)), dec_cross_c.resize(size_t(s.dl)), dec_ff_c.resize(size_t(s.dl));
  for (auto& c : enc_attn_c) attention(c, Le, Le);
  for (auto& c : enc_ff_c) feed_forward(c, Ne);
  for (auto& c : dec_self_c) attention(c, Ld, Ld);
  for (auto& c : dec_cross_c) attention(c, Ld, Le);
  for (auto& c : dec_ff_c) feed_forward(c, Nd);
  resize(enc_bias, nh * Le * Le), resize(denc_bias, nh * Le * Le);
  resize(dec_bias, nh * Ld * Ld), resize(ddec_bias, nh * Ld * Ld);
  labels.assign(size_t(Nd), -1);
  resize(scores, B * nh * std::max({Le * Le, Ld * Ld, Ld * Le}));
  for (auto* v : {&proj, &dq, &dk, &dv, &dctx}) resize(*v, Nmax * inner);
  resize(out, Nmax * dm), resize(dxn, Nmax * dm);
  resize(dh, Nmax * s.ff);
  if (s.gated()) resize(da, Nmax * s.ff), resize(db, Nmax * s.ff);  // ReLU's backward runs in place in dh
  resize(dx_enc, Ne * dm), resize(dx_dec, Nd * dm), resize(d_enc_out, Ne * dm);
}

Model::Model(const Shape& shape)
    : table_(shape),
      params_(size_t(table_.total()), 0.0f),
      grads_(size_t(table_.total()), 0.0f),
      work_(std::make_unique<Workspace>()) {
  Workspace& w = *work_;
  auto off = [&](int stack, int layer, Role role, int sub) { return table_.get(stack, layer, role, sub).offset; };
  auto attention = [&](int stack, int layer, int sub) {
    const int64_t k = off(stack, layer, shape.shared_kv ? Role::kv : Role::k, sub);
    const int64_t v = shape.shared_kv ? k : off(stack, layer, Role::v, sub);
    return AttentionParams{off(stack, layer, Role::norm, sub), off(stack, layer, Role::q, sub), k, v,
                           off(stack, layer, Role::o, sub)};
  };
  auto feed_forward = [&](int stack, int layer, int sub) {
    const bool g = shape.gated();
    return FeedForwardParams{off(stack, layer, Role::norm, sub), g ? -1 : off(stack, layer, Role::wi, sub),
                             g ? off(stack, layer, Role::wi_0, sub) : -1, g ? off(stack, layer, Role::wi_1, sub) : -1,
                             off(stack, layer, Role::wo, sub)};
  };
  for (int i = 0; i < shape.el; ++i) {
    w.enc_attn.push_back(attention(0, i, 0));
    w.enc_ff.push_back(feed_forward(0, i, 1));
  }
  for (int i = 0; i < shape.dl; ++i) {
    w.dec_self.push_back(attention(1, i, 0));
    w.dec_cross.push_back(attention(1, i, 1));
    w.dec_ff.push_back(feed_forward(1, i, 2));
  }
  w.shared = table_.at("shared.weight").offset;
  w.lm_head = shape.tied ? -1 : table_.at("lm_head.weight").offset;
  w.enc_table = off(0, -1, Role::relative_bias, 0);
  w.dec_table = off(1, -1, Role::relative_bias, 0);
  w.enc_final = off(0, -1, Role::final_norm, -1);
  w.dec_final = off(1, -1, Role::final_norm, -1);
}

Model::~Model() = default;
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;

void Model::zero_grads() { std::fill(grads_.begin(), grads_.end(), 0.0f); }

namespace {

// Everything one pass needs to see: shape, weights, gradients, workspace, batch, options.
struct Pass {
  const Shape& s;
  const float* P;  // parameter buffer
  float* G;        // gradient buffer (backward only)
  const Batch& batch;
  const ForwardOptions& opt;
  int64_t B, Le, Ld;
};

// The gradient entering a sublayer's output projection: dx itself when dropout is off, else a dropped
// copy in the workspace (dx is still needed unchanged for the residual path).
const float* dropped_gradient(Model::Workspace& w, const float* dx, int64_t n, const Dropout& drop) {
  if (!drop.active()) return dx;
  std::copy_n(dx, n, w.out.data());
  dropout_apply(w.out.data(), n, drop);
  return w.out.data();
}

// x_out = x_in + dropout(Attention(norm(x_in), kv_src)); kv_src null = self-attention.
void attention_sublayer_forward(const Pass& p, Model::Workspace& w, const AttentionParams& ap, AttentionCache& c, const float* x_in,
                                float* x_out, const float* kv_src, const float* bias, const int32_t* seg_q,
                                const int32_t* seg_k, int64_t Lq, int64_t Lk, bool causal, int stack, int layer,
                                int sub) {
  const int64_t dm = p.s.dm, inner = p.s.inner(), Nq = p.B * Lq, Nk = p.B * Lk, nh = p.s.nh, kv = p.s.kv;
  rmsnorm_forward(c.xn.data(), c.rstd.data(), x_in, p.P + ap.norm, Nq, dm, p.s.layer_norm_epsilon);
  const Bf16OperandMirror xn_once(c.xn.data(), kv_src ? 0 : Nq * dm);  // bf16: q, k and v read it
  const float* src = kv_src ? kv_src : c.xn.data();
  linear_forward(w.proj.data(), c.xn.data(), p.P + ap.q, Nq, dm, inner);
  split_heads(c.q.data(), w.proj.data(), p.B, Lq, nh, kv);
  linear_forward(w.proj.data(), src, p.P + ap.k, Nk, dm, inner);
  split_heads(c.k.data(), w.proj.data(), p.B, Lk, nh, kv);
  if (!p.s.shared_kv) {
    linear_forward(w.proj.data(), src, p.P + ap.v, Nk, dm, inner);
    split_heads(c.v.data(), w.proj.data(), p.B, Lk, nh, kv);
  }
  const float* values = p.s.shared_kv ? c.k.data() : c.v.data();
  const AttentionDims d{p.B, nh, Lq, Lk, kv};
  attention_forward(w.dctx.data(), c.probs.data(), w.scores.data(), c.q.data(), c.k.data(), values, bias, seg_q,
                    seg_k, causal, d, dropout_at(p.opt, stack, layer, sub, kAttnProbs));
  merge_heads(c.ctx.data(), w.dctx.data(), p.B, Lq, nh, kv);
  linear_forward(w.out.data(), c.ctx.data(), p.P + ap.o, Nq, inner, dm);
  dropout_apply(w.out.data(), Nq * dm, dropout_at(p.opt, stack, layer, sub, kAttnOut));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < Nq * dm; ++i) x_out[i] = x_in[i] + w.out[i];
}

// dx [Nq, dm] is the gradient of x_out on entry and of x_in on exit (residual + norm path);
// d_src [Nk, dm] (cross-attention only) accumulates the gradient of kv_src.
void attention_sublayer_backward(const Pass& p, Model::Workspace& w, const AttentionParams& ap, const AttentionCache& c,
                                 const float* x_in, float* dx, const float* kv_src, float* d_src, float* dbias,
                                 int64_t Lq, int64_t Lk, int stack, int layer, int sub) {
  const int64_t dm = p.s.dm, inner = p.s.inner(), Nq = p.B * Lq, Nk = p.B * Lk, nh = p.s.nh, kv = p.s.kv;
  const Bf16OperandMirror xn_once(c.xn.data(), kv_src ? 0 : Nq * dm);  // bf16: the q, k, v weight gradients read it
  const float* dout = dropped_gradient(w, dx, Nq * dm, dropout_at(p.opt, stack, layer, sub, kAttnOut));
  linear_backward(w.proj.data(), p.G + ap.o, dout, c.ctx.data(), p.P + ap.o, Nq, inner, dm, Write::overwrite);
  split_heads(w.dctx.data(), w.proj.data(), p.B, Lq, nh, kv);
  const AttentionDims d{p.B, nh, Lq, Lk, kv};
  const float* values = p.s.shared_kv ? c.k.data() : c.v.data();
  attention_backward(w.dq.data(), w.dk.data(), w.dv.data(), dbias, w.scores.data(), w.dctx.data(), c.q.data(),
                     c.k.data(), values, c.probs.data(), d, dropout_at(p.opt, stack, layer, sub, kAttnProbs));
  merge_heads(w.proj.data(), w.dq.data(), p.B, Lq, nh, kv);
  linear_backward(w.dxn.data(), p.G + ap.q, w.proj.data(), c.xn.data(), p.P + ap.q, Nq, dm, inner, Write::overwrite);
  const float* src = kv_src ? kv_src : c.xn.data();
  float* dsrc = kv_src ? d_src : w.dxn.data();
  if (p.s.shared_kv) {
    // The projection was read as keys and as values: its gradient is the sum of both uses.
    float* dk = w.dk.data();
    const float* dv = w.dv.data();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < Nk * inner; ++i) dk[i] += dv[i];
  }
  merge_heads(w.proj.data(), w.dk.data(), p.B, Lk, nh, kv);
  linear_backward(dsrc, p.G + ap.k, w.proj.data(), src, p.P + ap.k, Nk, dm, inner);
  if (!p.s.shared_kv) {
    merge_heads(w.proj.data(), w.dv.data(), p.B, Lk, nh, kv);
    linear_backward(dsrc, p.G + ap.v, w.proj.data(), src, p.P + ap.v, Nk, dm, inner);
  }
  rmsnorm_backward(dx, p.G + ap.norm, w.dxn.data(), x_in, p.P + ap.norm, c.rstd.data(), Nq, dm);
}

// x_out = x_in + dropout(wo · dropout(act(norm(x_in)))), act = relu(wi·) or gelu(wi_0·) ⊙ wi_1·
void feed_forward_sublayer_forward(const Pass& p, Model::Workspace& w, const FeedForwardParams& fp, FeedForwardCache& c,
                                   const float* x_in, float* x_out, int64_t N, int stack, int layer, int sub) {
  const int64_t dm = p.s.dm, ff = p.s.ff;
  rmsnorm_forward(c.xn.data(), c.rstd.data(), x_in, p.P + fp.norm, N, dm, p.s.layer_norm_epsilon);
  if (p.s.gated()) {
    const Bf16OperandMirror xn_once(c.xn.data(), N * dm);  // bf16: both input projections read it
    linear_forward(c.a.data(), c.xn.data(), p.P + fp.wi_0, N, dm, ff);
    linear_forward(c.b.data(), c.xn.data(), p.P + fp.wi_1, N, dm, ff);
    gated_gelu_forward(c.h.data(), c.a.data(), c.b.data(), N * ff);
  } else {
    linear_forward(c.h.data(), c.xn.data(), p.P + fp.wi, N, dm, ff);
    relu_forward(c.h.data(), c.h.data(), N * ff);  // in place
  }
  dropout_apply(c.h.data(), N * ff, dropout_at(p.opt, stack, layer, sub, kFFHidden));
  linear_forward(w.out.data(), c.h.data(), p.P + fp.wo, N, ff, dm);
  dropout_apply(w.out.data(), N * dm, dropout_at(p.opt, stack, layer, sub, kFFOut));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < N * dm; ++i) x_out[i] = x_in[i] + w.out[i];
}

void feed_forward_sublayer_backward(const Pass& p, Model::Workspace& w, const FeedForwardParams& fp, const FeedForwardCache& c,
                                    const float* x_in, float* dx, int64_t N, int stack, int layer, int sub) {
  const int64_t dm = p.s.dm, ff = p.s.ff;
  const float* dout = dropped_gradient(w, dx, N * dm, dropout_at(p.opt, stack, layer, sub, kFFOut));
  linear_backward(w.dh.data(), p.G + fp.wo, dout, c.h.data(), p.P + fp.wo, N, ff, dm, Write::overwrite);
  dropout_apply(w.dh.data(), N * ff, dropout_at(p.opt, stack, layer, sub, kFFHidden));
  if (p.s.gated()) {
    const Bf16OperandMirror xn_once(c.xn.data(), N * dm);  // bf16: both weight gradients read it
    gated_gelu_backward(w.da.data(), w.db.data(), w.dh.data(), c.a.data(), c.b.data(), N * ff, Write::overwrite);
    linear_backward(w.dxn.data(), p.G + fp.wi_0, w.da.data(), c.xn.data(), p.P + fp.wi_0, N, dm, ff,
                    Write::overwrite);
    linear_backward(w.dxn.data(), p.G + fp.wi_1, w.db.data(), c.xn.data(), p.P + fp.wi_1, N, dm, ff);
  } else {
    relu_backward(w.dh.data(), w.dh.data(), c.h.data(), N * ff, Write::overwrite);  // in place, masked by h
    linear_backward(w.dxn.data(), p.G + fp.wi, w.dh.data(), c.xn.data(), p.P + fp.wi, N, dm, ff, Write::overwrite);
  }
  rmsnorm_backward(dx, p.G + fp.norm, w.dxn.data(), x_in, p.P + fp.norm, c.rstd.data(), N, dm);
}

// A stack's input: x = dropout(shared[ids]) and its relative bias [nh, L, L] from the stack's table.
void stack_input_forward(const Pass& p, Model::Workspace& w, float* x, const int32_t* ids, int64_t N, float* bias,
                         int64_t table, int64_t L, int stack) {
  embedding_forward(x, ids, p.P + w.shared, N, p.s.dm);
  dropout_apply(x, N * p.s.dm, dropout_at(p.opt, stack, -1, -1, kEmbed));
  relative_bias_forward(bias, p.P + table, p.s.nh, L, L, stack == 0, p.s.relative_buckets, p.s.relative_max_distance);
}

// Gradients of the stack input: dbias (summed over the stack's layers) into its table, dx into shared.
void stack_input_backward(const Pass& p, Model::Workspace& w, float* dx, const int32_t* ids, int64_t N,
                          const float* dbias, int64_t table, int64_t L, int stack) {
  relative_bias_backward(p.G + table, dbias, p.s.nh, L, L, stack == 0, p.s.relative_buckets,
                         p.s.relative_max_distance);
  dropout_apply(dx, N * p.s.dm, dropout_at(p.opt, stack, -1, -1, kEmbed));
  embedding_backward(p.G + w.shared, dx, ids, N, p.s.dm);
}

void check_batch(const Batch& b, const Shape& s) {
  T5_CHECK(b.batch > 0 && b.inputs_length > 0 && b.targets_length > 0,
           "batch geometry must be positive, got batch {} inputs_length {} targets_length {}", b.batch,
           b.inputs_length, b.targets_length);
  const size_t ne = size_t(b.batch * b.inputs_length), nd = size_t(b.batch * b.targets_length);
  T5_CHECK(b.input_ids.size() == ne && b.encoder_segment_ids.size() == ne,
           "batch: input_ids/encoder_segment_ids hold {}/{} values, expected {}", b.input_ids.size(),
           b.encoder_segment_ids.size(), ne);
  T5_CHECK(b.decoder_input_ids.size() == nd && b.decoder_segment_ids.size() == nd && b.labels.size() == nd,
           "batch: decoder_input_ids/decoder_segment_ids/labels hold {}/{}/{} values, expected {}",
           b.decoder_input_ids.size(), b.decoder_segment_ids.size(), b.labels.size(), nd);
  const int64_t V = s.vocab_size;
  for (size_t i = 0; i < ne; ++i)
    T5_CHECK(b.input_ids[i] >= 0 && b.input_ids[i] < V, "batch: input_ids[{}] = {} outside the vocabulary [0, {})",
             i, b.input_ids[i], V);
  for (size_t i = 0; i < nd; ++i) {
    T5_CHECK(b.decoder_input_ids[i] >= 0 && b.decoder_input_ids[i] < V,
             "batch: decoder_input_ids[{}] = {} outside the vocabulary [0, {})", i, b.decoder_input_ids[i], V);
    T5_CHECK(b.labels[i] == kIgnoreLabel || (b.labels[i] >= 0 && b.labels[i] < V),
             "batch: labels[{}] = {} is neither -100 nor in the vocabulary [0, {})", i, b.labels[i], V);
  }
}

}  // namespace

// dx[rows, dm] = dlg[rows, V] · W[V, dm] by kHeadSlices vocabulary slices (see kHeadSlices).
static void head_input_gradient(Model::Workspace& w, float* dx, const float* dlg, const float* W, int64_t rows,
                                int64_t dm, int64_t V) {
  const int64_t per = (V + kHeadSlices - 1) / kHeadSlices;
  FirstException errors;  // a GEMM error (oneDNN) must not leave the parallel region
#pragma omp parallel for schedule(static)
  for (int64_t sl = 0; sl < kHeadSlices; ++sl) errors.run([&] {
    const int64_t v0 = sl * per, n = std::min(per, V - v0);
    float* part = w.head_dx.data() + sl * rows * dm;
    if (n <= 0)  // a vocabulary smaller than the slice count (test shapes)
      std::fill_n(part, rows * dm, 0.0f);
    else
      matmul<float>(Trans::N, Trans::N, rows, dm, n, 1.0f, dlg + v0, V, W + v0 * dm, dm, 0.0f, part, dm);
  });
  errors.rethrow();
  const float* part = w.head_dx.data();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < rows * dm; ++i) {
    float sum = part[i];
    for (int64_t sl = 1; sl < kHeadSlices; ++sl) sum += part[sl * rows * dm + i];
    dx[i] = sum;
  }
}

// The whole pass. `backward` adds gradients; `logits_out` (if non-null) receives all [Nd, V] logits.
static LossResult run(const Shape& s, const float* params, float* grads, Model::Workspace& w, const Batch& batch,
                      const ForwardOptions& opt, float grad_scale, bool backward, std::vector<float>* logits_out);

// bf16 passes (core/mixed_precision.h): every matrix product inside the scope takes bf16 operands;
// the weights are converted once per pass into a persistent mirror (the optimizer changes the f32
// master weights between passes), activations at each product.
static void mirror_weights(const std::vector<float>& params, std::vector<bf16>& mirror) {
  mirror.resize(params.size());
  to_bf16_parallel(params.data(), mirror.data(), int64_t(params.size()));
  add_bf16_mirror(params.data(), mirror.data(), int64_t(params.size()));
}

LossResult Model::forward_backward(const Batch& batch, const ForwardOptions& opt, float grad_scale) {
  const Bf16Scope scope(opt.precision == Precision::bf16);
  if (opt.precision == Precision::bf16) mirror_weights(params_, work_->params16);
  return run(shape(), params(), grads(), *work_, batch, opt, grad_scale, true, nullptr);
}

LossResult Model::evaluate(const Batch& batch, const ForwardOptions& opt) {
  const Bf16Scope scope(opt.precision == Precision::bf16);
  if (opt.precision == Precision::bf16) mirror_weights(params_, work_->params16);
  return run(shape(), params(), nullptr, *work_, batch, opt, 0.0f, false, nullptr);
}

std::vector<float> Model::logits(const Batch& batch) {
  std::vector<float> out;
  run(shape(), params(), nullptr, *work_, batch, ForwardOptions{}, 0.0f, false, &out);
  return out;
}

static LossResult run(const Shape& s, const float* params, float* grads, Model::Workspace& w, const Batch& batch,
                      const ForwardOptions& opt, float grad_scale, bool backward, std::vector<float>* logits_out) {
  T5_CHECK(opt.dropout >= 0.0 && opt.dropout < 1.0, "dropout must be in [0, 1), got {}", opt.dropout);
  T5_CHECK(opt.head_chunk_rows >= 0, "head_chunk_rows must be >= 0 (0 = automatic), got {}", opt.head_chunk_rows);
  check_batch(batch, s);
  const int64_t B = batch.batch, Le = batch.inputs_length, Ld = batch.targets_length;
  const int64_t Ne = B * Le, Nd = B * Ld, dm = s.dm, V = s.vocab_size;
  w.ensure(s, B, Le, Ld);
  const Pass p{s, params, grads, batch, opt, B, Le, Ld};
  const int32_t* enc_seg = batch.encoder_segment_ids.data();
  const int32_t* dec_seg = batch.decoder_segment_ids.data();
  // Bench breakdown (core/profile.h): each lap charges the work since the previous one.
  using C = StepComponent;
  constexpr Direction kFwd = Direction::forward, kBwd = Direction::backward;
  ProfileClock clock;

  // ---- encoder
  float* enc_res0 = w.enc_res.data();
  stack_input_forward(p, w, enc_res0, batch.input_ids.data(), Ne, w.enc_bias.data(), w.enc_table, Le, 0);
  clock.lap(C::encoder_embedding, kFwd);
  auto enc_res = [&](int64_t i) { return w.enc_res.data() + i * Ne * dm; };
  for (int l = 0; l < s.el; ++l) {
    attention_sublayer_forward(p, w, w.enc_attn[l], w.enc_attn_c[l], enc_res(2 * l), enc_res(2 * l + 1), nullptr,
                               w.enc_bias.data(), enc_seg, enc_seg, Le, Le, false, 0, l, 0);
    clock.lap(C::encoder_self_attention, kFwd);
    feed_forward_sublayer_forward(p, w, w.enc_ff[l], w.enc_ff_c[l], enc_res(2 * l + 1), enc_res(2 * l + 2), Ne, 0, l,
                                  1);
    clock.lap(C::encoder_feed_forward, kFwd);
  }
  rmsnorm_forward(w.enc_out.data(), w.enc_rstd.data(), enc_res(2 * s.el), params + w.enc_final, Ne, dm,
                  s.layer_norm_epsilon);
  dropout_apply(w.enc_out.data(), Ne * dm, dropout_at(opt, 0, -1, -1, kFinal));
  // bf16: every cross-attention's k and v projections (forward and weight gradients) read it.
  const Bf16OperandMirror enc_out_once(w.enc_out.data(), Ne * dm);
  clock.lap(C::encoder_final_norm, kFwd);

  // ---- decoder
  stack_input_forward(p, w, w.dec_res.data(), batch.decoder_input_ids.data(), Nd, w.dec_bias.data(), w.dec_table,
                      Ld, 1);
  clock.lap(C::decoder_embedding, kFwd);
  auto dec_res = [&](int64_t i) { return w.dec_res.data() + i * Nd * dm; };
  for (int l = 0; l < s.dl; ++l) {
    attention_sublayer_forward(p, w, w.dec_self[l], w.dec_self_c[l], dec_res(3 * l), dec_res(3 * l + 1), nullptr,
                               w.dec_bias.data(), dec_seg, dec_seg, Ld, Ld, true, 1, l, 0);
    clock.lap(C::decoder_self_attention, kFwd);
    attention_sublayer_forward(p, w, w.dec_cross[l], w.dec_cross_c[l], dec_res(3 * l + 1), dec_res(3 * l + 2),
                               w.enc_out.data(), nullptr, dec_seg, enc_seg, Ld, Le, false, 1, l, 1);
    clock.lap(C::decoder_cross_attention, kFwd);
    feed_forward_sublayer_forward(p, w, w.dec_ff[l], w.dec_ff_c[l], dec_res(3 * l + 2), dec_res(3 * l + 3), Nd, 1, l,
                                  2);
    clock.lap(C::decoder_feed_forward, kFwd);
  }
  rmsnorm_forward(w.dec_out.data(), w.dec_rstd.data(), dec_res(3 * s.dl), params + w.dec_final, Nd, dm,
                  s.layer_norm_epsilon);
  const Dropout final_drop = dropout_at(opt, 1, -1, -1, kFinal);
  dropout_apply(w.dec_out.data(), Nd * dm, final_drop);
  // Tied embeddings rescale the decoder output by dm^-½ before the projection (Mesh TF / HF).
  const float out_scale = s.tied ? float(1.0 / std::sqrt(double(dm))) : 1.0f;
  if (s.tied)
    for (int64_t i = 0; i < Nd * dm; ++i) w.dec_out[i] *= out_scale;
  clock.lap(C::decoder_final_norm, kFwd);

  // ---- output head and loss, in row chunks
  LossResult r;
  for (int64_t n = 0; n < Nd; ++n) {
    const bool counted = batch.labels[n] != kIgnoreLabel && dec_seg[n] != 0;
    w.labels[n] = counted ? batch.labels[n] : -1;
    r.label_tokens += counted ? 1 : 0;
  }
  const int64_t W_out = s.tied ? w.shared : w.lm_head;
  if (logits_out) logits_out->assign(size_t(Nd * V), 0.0f);
  const bool grad_head = backward && r.label_tokens > 0;
  const double scale = r.label_tokens > 0 ? double(grad_scale) / double(r.label_tokens) : 0.0;
  if (grad_head) std::fill(w.dx_dec.begin(), w.dx_dec.end(), 0.0f);
  double sum_ce = 0.0, sum_z = 0.0;
  const int64_t chunk_rows = head_chunk_rows(Nd, V, opt.head_chunk_rows, opt.precision == Precision::bf16);
  if (w.logits.size() < size_t(chunk_rows * V)) resize(w.logits, chunk_rows * V);
  if (w.head_dx.size() < size_t(kHeadSlices * chunk_rows * dm)) resize(w.head_dx, kHeadSlices * chunk_rows * dm);
  for (int64_t r0 = 0; r0 < Nd; r0 += chunk_rows) {
    const int64_t rows = std::min(chunk_rows, Nd - r0);
    const bool any_label = std::any_of(w.labels.begin() + r0, w.labels.begin() + r0 + rows, [](int32_t l) { return l >= 0; });
    if (!any_label && !logits_out) continue;
    float* lg = logits_out ? logits_out->data() + r0 * V : w.logits.data();
    linear_forward(lg, w.dec_out.data() + r0 * dm, params + W_out, rows, dm, V);
    float* dlg = grad_head ? w.logits.data() : nullptr;  // may alias lg (written after reading)
    cross_entropy_forward_backward(dlg, &sum_ce, &sum_z, lg, w.labels.data() + r0, rows, V, opt.z_loss, scale);
    clock.lap(C::output_head, kFwd);  // the loss's gradient is fused into its forward
    if (grad_head) {
      // bf16: dlogits feeds dW and the vocabulary slices of dX (each would convert the whole chunk).
      const Bf16OperandMirror dlogits_once(dlg, rows * V);
      linear_backward<float>(nullptr, grads + W_out, dlg, w.dec_out.data() + r0 * dm, params + W_out, rows, dm, V);
      head_input_gradient(w, w.dx_dec.data() + r0 * dm, dlg, params + W_out, rows, dm, V);
    }
    clock.lap(C::output_head, kBwd);
  }
  r.sum_cross_entropy = sum_ce;
  if (r.label_tokens > 0) {
    r.loss = sum_ce / double(r.label_tokens);
    r.z_loss = sum_z / double(r.label_tokens);
  }
  if (!grad_head) return r;

  // ---- decoder backward
  float* dx = w.dx_dec.data();
  if (s.tied)
    for (int64_t i = 0; i < Nd * dm; ++i) dx[i] *= out_scale;
  dropout_apply(dx, Nd * dm, final_drop);
  std::copy_n(dx, Nd * dm, w.dxn.data());
  std::fill_n(dx, Nd * dm, 0.0f);
  rmsnorm_backward(dx, grads + w.dec_final, w.dxn.data(), dec_res(3 * s.dl), params + w.dec_final,
                   w.dec_rstd.data(), Nd, dm);
  std::fill(w.d_enc_out.begin(), w.d_enc_out.end(), 0.0f);
  std::fill(w.ddec_bias.begin(), w.ddec_bias.end(), 0.0f);
  clock.lap(C::decoder_final_norm, kBwd);
  for (int l = int(s.dl) - 1; l >= 0; --l) {
    feed_forward_sublayer_backward(p, w, w.dec_ff[l], w.dec_ff_c[l], dec_res(3 * l + 2), dx, Nd, 1, l, 2);
    clock.lap(C::decoder_feed_forward, kBwd);
    attention_sublayer_backward(p, w, w.dec_cross[l], w.dec_cross_c[l], dec_res(3 * l + 1), dx, w.enc_out.data(),
                                w.d_enc_out.data(), nullptr, Ld, Le, 1, l, 1);
    clock.lap(C::decoder_cross_attention, kBwd);
    attention_sublayer_backward(p, w, w.dec_self[l], w.dec_self_c[l], dec_res(3 * l), dx, nullptr, nullptr,
                                w.ddec_bias.data(), Ld, Ld, 1, l, 0);
    clock.lap(C::decoder_self_attention, kBwd);
  }
  stack_input_backward(p, w, dx, batch.decoder_input_ids.data(), Nd, w.ddec_bias.data(), w.dec_table, Ld, 1);
  clock.lap(C::decoder_embedding, kBwd);

  // ---- encoder backward
  float* dxe = w.dx_enc.data();
  dropout_apply(w.d_enc_out.data(), Ne * dm, dropout_at(opt, 0, -1, -1, kFinal));
  std::fill(w.dx_enc.begin(), w.dx_enc.end(), 0.0f);
  rmsnorm_backward(dxe, grads + w.enc_final, w.d_enc_out.data(), enc_res(2 * s.el), params + w.enc_final,
                   w.enc_rstd.data(), Ne, dm);
  std::fill(w.denc_bias.begin(), w.denc_bias.end(), 0.0f);
  clock.lap(C::encoder_final_norm, kBwd);
  for (int l = int(s.el) - 1; l >= 0; --l) {
    feed_forward_sublayer_backward(p, w, w.enc_ff[l], w.enc_ff_c[l], enc_res(2 * l + 1), dxe, Ne, 0, l, 1);
    clock.lap(C::encoder_feed_forward, kBwd);
    attention_sublayer_backward(p, w, w.enc_attn[l], w.enc_attn_c[l], enc_res(2 * l), dxe, nullptr, nullptr,
                                w.denc_bias.data(), Le, Le, 0, l, 0);
    clock.lap(C::encoder_self_attention, kBwd);
  }
  stack_input_backward(p, w, dxe, batch.input_ids.data(), Ne, w.denc_bias.data(), w.enc_table, Le, 0);
  clock.lap(C::encoder_embedding, kBwd);
  return r;
}

}  // namespace t5
