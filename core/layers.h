// The layers of T5 (SPEC.md §4) as forward/backward pairs of plain functions over caller-owned
// buffers, in the style of llm.c: shapes in the comments, row-major, N = batch·length rows.
// Semantics follow Hugging Face's modeling_t5 (T5LayerNorm, T5Attention, T5DenseActDense,
// T5DenseGatedActDense, T5ForConditionalGeneration's tied-output scale and loss).
//
// Conventions: backward functions ADD into the gradients of their inputs and weights (residual
// streams and shared weights accumulate), except where a comment says "writes". Every function is
// templated on the scalar type: float is what the model runs, double is what the finite-difference
// tests check. All matrix products go through matmul/matmul_batched, which route float to
// core/gemm.h (naive or fast backend) and double to a plain loop used only by tests.
#pragma once

#include <cstdint>

#include "core/gemm.h"

namespace t5 {

// C[M,N] = alpha·op(A)·op(B) + beta·C (core/gemm.h conventions).
template <class T>
void matmul(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
            int64_t ldb, T beta, T* C, int64_t ldc);
template <class T>
void matmul_batched(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                    int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc,
                    int64_t stride_c, int64_t count);

// Dropout as a pure function of (seed, site, index): forward and backward recompute the same mask,
// so nothing is stored. rate 0 = identity. `site` tells apart the places dropout is applied.
struct Dropout {
  double rate = 0.0;
  uint64_t seed = 0;
  uint64_t site = 0;
  bool active() const { return rate > 0.0; }
};
bool dropout_keep(const Dropout& d, int64_t index);
// x[n] *= keep / (1 - rate), in place (forward on activations, backward on their gradients).
template <class T> void dropout_apply(T* x, int64_t n, const Dropout& d);

// ---- embedding: out[N,dm] = table[ids[n], :] ----
template <class T> void embedding_forward(T* out, const int32_t* ids, const T* table, int64_t N, int64_t dm);
// dtable[V,dm] += scatter of dout[N,dm]
template <class T> void embedding_backward(T* dtable, const T* dout, const int32_t* ids, int64_t N, int64_t dm);

// How a backward kernel writes an input gradient: `add` accumulates into it (several paths meet
// there), `overwrite` stores it (the first writer, so the caller needs no zero-fill pass first).
enum class Write { add, overwrite };

// ---- linear without bias: y[N,out] = x[N,in] · W[out,in]ᵀ (HF stores [out, in]) ----
template <class T> void linear_forward(T* y, const T* x, const T* W, int64_t N, int64_t in, int64_t out);
// dx[N,in] += dy·W (= with Write::overwrite; skipped if dx is null); dW[out,in] += dyᵀ·x
template <class T>
void linear_backward(T* dx, T* dW, const T* dy, const T* x, const T* W, int64_t N, int64_t in, int64_t out,
                     Write dx_write = Write::add);

// ---- RMSNorm (T5LayerNorm): out = x · rsqrt(mean(x²) + eps) · w; no mean, no bias ----
// x, out [N,d]; rstd [N] saved for backward.
template <class T>
void rmsnorm_forward(T* out, T* rstd, const T* x, const T* w, int64_t N, int64_t d, double eps);
// dx[N,d] += ..., dw[d] += ...
template <class T>
void rmsnorm_backward(T* dx, T* dw, const T* dout, const T* x, const T* w, const T* rstd, int64_t N, int64_t d);

// ---- relative position bias (T5Attention._relative_position_bucket, SPEC.md §4) ----
// relative_position = key index − query index. float32 log, truncation, exactly as SPEC/HF.
int relative_position_bucket(int64_t relative_position, bool bidirectional, int64_t num_buckets,
                             int64_t max_distance);
// bias[nh,Lq,Lk] = table[bucket(j − i), h]; table [buckets, nh] as HF stores it.
template <class T>
void relative_bias_forward(T* bias, const T* table, int64_t nh, int64_t Lq, int64_t Lk, bool bidirectional,
                           int64_t num_buckets, int64_t max_distance);
// dtable[buckets,nh] += gather-sum of dbias[nh,Lq,Lk]
template <class T>
void relative_bias_backward(T* dtable, const T* dbias, int64_t nh, int64_t Lq, int64_t Lk, bool bidirectional,
                            int64_t num_buckets, int64_t max_distance);

// ---- heads: [B, L, nh·kv] (projection index head·kv + j) <-> [B, nh, L, kv] ----
template <class T> void split_heads(T* out, const T* in, int64_t B, int64_t L, int64_t nh, int64_t kv);
template <class T> void merge_heads(T* out, const T* in, int64_t B, int64_t L, int64_t nh, int64_t kv);

// ---- scaled-free dot-product attention over heads (T5Attention without projections) ----
// scores = q·kᵀ + bias (NO 1/sqrt(kv)); key j is visible from query i of row b iff
// seg_q[b,i] == seg_k[b,j] (and j <= i when causal). Softmax in the working precision (fp32 or
// better); a query with no visible key gets zero probabilities, zero output, zero gradient.
struct AttentionDims {
  int64_t B, nh, Lq, Lk, kv;
  int64_t heads() const { return B * nh; }
};
// q [B,nh,Lq,kv], k/v [B,nh,Lk,kv], bias [nh,Lq,Lk] or null, seg_q [B,Lq], seg_k [B,Lk].
// Writes probs [B,nh,Lq,Lk] (before dropout) and ctx [B,nh,Lq,kv]. `scratch` [B,nh,Lq,Lk] holds the
// dropped-out probabilities when drop.active() (may be null otherwise).
template <class T>
void attention_forward(T* ctx, T* probs, T* scratch, const T* q, const T* k, const T* v, const T* bias,
                       const int32_t* seg_q, const int32_t* seg_k, bool causal, const AttentionDims& d,
                       const Dropout& drop);
// Writes dq [B,nh,Lq,kv], dk/dv [B,nh,Lk,kv]; dbias [nh,Lq,Lk] += Σ_b dscores (if non-null).
// `scratch` [B,nh,Lq,Lk] is overwritten.
template <class T>
void attention_backward(T* dq, T* dk, T* dv, T* dbias, T* scratch, const T* dctx, const T* q, const T* k,
                        const T* v, const T* probs, const AttentionDims& d, const Dropout& drop);

// ---- feed-forward activations (the projections are linear_*) ----
// h[n] = relu(a[n]) ; da[n] += dh[n]·[mask > 0]. h may alias a (the model keeps only h). The mask
// is a, or h itself: relu(a) > 0 exactly where a > 0 (where dropout then zeroed h, the incoming
// gradient was zeroed by the same mask, so the product is the same).
template <class T> void relu_forward(T* h, const T* a, int64_t n);
template <class T> void relu_backward(T* da, const T* dh, const T* mask, int64_t n, Write write = Write::add);
// gelu_tanh(x) = 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))) (HF "gelu_new")
template <class T> T gelu_tanh(T x);
// h[n] = gelu_tanh(a[n]) · b[n] (T5DenseGatedActDense); da, db += ...
template <class T> void gated_gelu_forward(T* h, const T* a, const T* b, int64_t n);
template <class T>
void gated_gelu_backward(T* da, T* db, const T* dh, const T* a, const T* b, int64_t n, Write write = Write::add);

// ---- softmax cross-entropy with optional z-loss over rows with a label ----
// logits [N,V]; labels [N] (< 0 = no loss on that row). Adds Σ CE and Σ z_coef·logZ² over labelled
// rows to *sum_ce / *sum_z. If dlogits is non-null, WRITES dlogits[N,V] =
// grad_scale·d(Σ CE + Σ z)/dlogits (zero rows for unlabelled rows); dlogits may alias logits.
template <class T>
void cross_entropy_forward_backward(T* dlogits, double* sum_ce, double* sum_z, const T* logits,
                                    const int32_t* labels, int64_t N, int64_t V, double z_coef, double grad_scale);

}  // namespace t5
