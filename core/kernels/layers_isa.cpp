// Forward/backward pairs of the T5 layers (see core/layers.h): the kernels of one instruction-set
// level. CMake compiles this file once per level (core/kernels/dispatch.h) inside namespace
// t5::T5_ISA_NS; core/layers.cpp dispatches to the level the CPU allows. Float instantiations run the
// model; double instantiations serve the finite-difference tests. Elementwise loops use OpenMP over
// rows. A kernel calling another kernel of this file qualifies the call (T5_ISA_NS::): argument-
// dependent lookup would otherwise also find the dispatching t5:: declaration.
#include "core/layers.h"
#include "core/kernels/dispatch.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/mixed_precision.h"
#include "core/vec_math.h"

namespace t5 {
namespace T5_ISA_NS {

// Bf16OperandMirror for the float model; the double instantiations (tests) have nothing to convert.
template <class T>
struct ConvertOnce {
  ConvertOnce(const T*, int64_t) {}
};
template <>
struct ConvertOnce<float> : Bf16OperandMirror {
  using Bf16OperandMirror::Bf16OperandMirror;
};

template <class T>
void dropout_apply(T* x, int64_t n, const Dropout& d) {
  if (!d.active()) return;
  const T scale = T(1.0 / (1.0 - d.rate));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) x[i] = dropout_keep(d, i) ? x[i] * scale : T(0);
}

// Column reductions over rows (embedding and norm-weight gradients) work on blocks of this many
// columns: contiguous reads per row instead of a stride of d per element.
constexpr int64_t kColumnBlock = 64;

// ---------------------------------------------------------------- embedding
template <class T>
void embedding_forward(T* out, const int32_t* ids, const T* table, int64_t N, int64_t dm) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) std::copy_n(table + int64_t(ids[n]) * dm, dm, out + n * dm);
}

template <class T>
void embedding_backward(T* dtable, const T* dout, const int32_t* ids, int64_t N, int64_t dm) {
  // Rows may repeat ids: parallel over blocks of columns keeps the scatter race-free; each block walks
  // the rows in order (contiguous reads, same summation order at any thread count).
  const int64_t blocks = (dm + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t c0 = blk * kColumnBlock, c1 = std::min(dm, c0 + kColumnBlock);
    for (int64_t n = 0; n < N; ++n) {
      T* dst = dtable + int64_t(ids[n]) * dm;
      const T* src = dout + n * dm;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
    }
  }
}

// ---------------------------------------------------------------- linear
template <class T>
void linear_forward(T* y, const T* x, const T* W, int64_t N, int64_t in, int64_t out) {
  matmul<T>(Trans::N, Trans::T, N, out, in, T(1), x, in, W, in, T(0), y, out);
}

template <class T>
void linear_backward(T* dx, T* dW, const T* dy, const T* x, const T* W, int64_t N, int64_t in, int64_t out,
                     Write dx_write) {
  // bf16 passes: dy is an operand of both products; convert it once (nothing in f32 passes).
  const ConvertOnce<T> dy_once(dy, dx ? N * out : 0);
  if (dx) matmul<T>(Trans::N, Trans::N, N, in, out, T(1), dy, out, W, in, T(dx_write == Write::add ? 1 : 0), dx, in);
  matmul<T>(Trans::T, Trans::N, out, in, N, T(1), dy, out, x, in, T(1), dW, in);
}

// ---------------------------------------------------------------- RMSNorm
template <class T>
void rmsnorm_forward(T* out, T* rstd, const T* x, const T* w, int64_t N, int64_t d, double eps) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const T* xr = x + n * d;
    double ss = 0.0;
#pragma omp simd reduction(+ : ss)
    for (int64_t i = 0; i < d; ++i) ss += double(xr[i]) * double(xr[i]);
    const T r = T(1.0 / std::sqrt(ss / double(d) + eps));
    rstd[n] = r;
    T* o = out + n * d;
#pragma omp simd
    for (int64_t i = 0; i < d; ++i) o[i] = w[i] * (xr[i] * r);
  }
}

template <class T>
void rmsnorm_backward(T* dx, T* dw, const T* dout, const T* x, const T* w, const T* rstd, int64_t N, int64_t d) {
  // y_i = w_i x_i r, r = (mean x² + eps)^-½:  dx_i = r w_i dy_i − r³/d · x_i · Σ_j w_j dy_j x_j
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const T* xr = x + n * d;
    const T* g = dout + n * d;
    const double r = double(rstd[n]);
    double dot = 0.0;
#pragma omp simd reduction(+ : dot)
    for (int64_t i = 0; i < d; ++i) dot += double(w[i]) * double(g[i]) * double(xr[i]);
    const T rw = T(r), c = T(r * r * r * dot / double(d));
    T* dxr = dx + n * d;
#pragma omp simd
    for (int64_t i = 0; i < d; ++i) dxr[i] += rw * w[i] * g[i] - c * xr[i];
  }
  // dw_i = Σ_n dout[n,i] x[n,i] rstd[n]: blocks of columns, rows in order (contiguous, deterministic).
  const int64_t blocks = (d + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t i0 = blk * kColumnBlock, width = std::min(d, i0 + kColumnBlock) - i0;
    double acc[kColumnBlock] = {};
    for (int64_t n = 0; n < N; ++n) {
      const T* g = dout + n * d + i0;
      const T* xr = x + n * d + i0;
      const double r = double(rstd[n]);
#pragma omp simd
      for (int64_t i = 0; i < width; ++i) acc[i] += double(g[i]) * double(xr[i]) * r;
    }
    for (int64_t i = 0; i < width; ++i) dw[i0 + i] += T(acc[i]);
  }
}

// ---------------------------------------------------------------- relative position bias
namespace {
// The bucket depends only on the offset j − i: one entry per offset, index j − i + Lq − 1, in a
// per-thread buffer that only grows (no allocation inside a step once warm).
const std::vector<int>& buckets_by_offset(int64_t Lq, int64_t Lk, bool bidirectional, int64_t num_buckets,
                                          int64_t max_distance) {
  thread_local std::vector<int> b;
  b.resize(size_t(Lq + Lk - 1));
  for (int64_t o = 0; o < Lq + Lk - 1; ++o)
    b[size_t(o)] = relative_position_bucket(o - (Lq - 1), bidirectional, num_buckets, max_distance);
  return b;
}
}  // namespace

template <class T>
void relative_bias_forward(T* bias, const T* table, int64_t nh, int64_t Lq, int64_t Lk, bool bidirectional,
                           int64_t num_buckets, int64_t max_distance) {
  const std::vector<int>& b = buckets_by_offset(Lq, Lk, bidirectional, num_buckets, max_distance);
  for (int64_t h = 0; h < nh; ++h)
    for (int64_t i = 0; i < Lq; ++i) {
      const int* row = b.data() + (Lq - 1 - i);  // row[j] = bucket of offset j − i
      T* out = bias + (h * Lq + i) * Lk;
      for (int64_t j = 0; j < Lk; ++j) out[j] = table[int64_t(row[j]) * nh + h];
    }
}

template <class T>
void relative_bias_backward(T* dtable, const T* dbias, int64_t nh, int64_t Lq, int64_t Lk, bool bidirectional,
                            int64_t num_buckets, int64_t max_distance) {
  const std::vector<int>& b = buckets_by_offset(Lq, Lk, bidirectional, num_buckets, max_distance);
  thread_local std::vector<double> acc;
  for (int64_t h = 0; h < nh; ++h) {
    acc.assign(size_t(num_buckets), 0.0);
    for (int64_t i = 0; i < Lq; ++i) {
      const int* row = b.data() + (Lq - 1 - i);
      const T* g = dbias + (h * Lq + i) * Lk;
      for (int64_t j = 0; j < Lk; ++j) acc[size_t(row[j])] += double(g[j]);
    }
    for (int64_t k = 0; k < num_buckets; ++k) dtable[k * nh + h] += T(acc[size_t(k)]);
  }
}

// ---------------------------------------------------------------- heads
template <class T>
void split_heads(T* out, const T* in, int64_t B, int64_t L, int64_t nh, int64_t kv) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < nh; ++h)
      for (int64_t l = 0; l < L; ++l)
        std::copy_n(in + (b * L + l) * nh * kv + h * kv, kv, out + ((b * nh + h) * L + l) * kv);
}

template <class T>
void merge_heads(T* out, const T* in, int64_t B, int64_t L, int64_t nh, int64_t kv) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t l = 0; l < L; ++l)
      for (int64_t h = 0; h < nh; ++h)
        std::copy_n(in + ((b * nh + h) * L + l) * kv, kv, out + (b * L + l) * nh * kv + h * kv);
}

// ---------------------------------------------------------------- attention
namespace {
// One row of attention probabilities in place: row[j] = softmax_j(row[j] + bias[j]) over the visible
// keys j < jend with seg_k[j] == sq, 0 elsewhere; a row without a visible key is all zeros. Masked
// scores become -inf, which exp_approx maps to exactly 0, so the loops have no branches.
template <class T>
void softmax_row(T* row, const T* bias, int32_t sq, const int32_t* seg_k, int64_t jend, int64_t Lk) {
  constexpr T kMasked = -std::numeric_limits<T>::infinity();
  T mx = kMasked;
#pragma omp simd reduction(max : mx)
  for (int64_t j = 0; j < Lk; ++j) {
    const bool visible = j < jend && seg_k[j] == sq;
    row[j] = visible ? row[j] + (bias ? bias[j] : T(0)) : kMasked;
    mx = mx > row[j] ? mx : row[j];
  }
  if (mx == kMasked) {  // no visible key: zero row, no NaN
    std::fill_n(row, Lk, T(0));
    return;
  }
  T sum = T(0);
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < Lk; ++j) {
    row[j] = exp_approx(row[j] - mx);
    sum += row[j];
  }
  const T inv = T(1) / sum;
#pragma omp simd
  for (int64_t j = 0; j < Lk; ++j) row[j] *= inv;
}
}  // namespace

template <class T>
void attention_forward(T* ctx, T* probs, T* scratch, const T* q, const T* k, const T* v, const T* bias,
                       const int32_t* seg_q, const int32_t* seg_k, bool causal, const AttentionDims& d,
                       const Dropout& drop) {
  const int64_t Lq = d.Lq, Lk = d.Lk, kv = d.kv, S = Lq * Lk;
  // scores[bh] [Lq,Lk] = q[bh] [Lq,kv] · k[bh]ᵀ
  matmul_batched<T>(Trans::N, Trans::T, Lq, Lk, kv, T(1), q, kv, Lq * kv, k, kv, Lk * kv, T(0), probs, Lk, S,
                    d.heads());
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t bh = 0; bh < d.heads(); ++bh)
    for (int64_t i = 0; i < Lq; ++i)
      softmax_row(probs + bh * S + i * Lk, bias ? bias + (bh % d.nh) * S + i * Lk : nullptr,
                  seg_q[(bh / d.nh) * Lq + i], seg_k + (bh / d.nh) * Lk, causal ? std::min(i + 1, Lk) : Lk, Lk);
  const T* p = probs;
  if (drop.active()) {
    std::copy_n(probs, d.heads() * S, scratch);
    T5_ISA_NS::dropout_apply(scratch, d.heads() * S, drop);
    p = scratch;
  }
  // ctx[bh] [Lq,kv] = p[bh] [Lq,Lk] · v[bh] [Lk,kv]
  matmul_batched<T>(Trans::N, Trans::N, Lq, kv, Lk, T(1), p, Lk, S, v, kv, Lk * kv, T(0), ctx, kv, Lq * kv,
                    d.heads());
}

template <class T>
void attention_backward(T* dq, T* dk, T* dv, T* dbias, T* scratch, const T* dctx, const T* q, const T* k,
                        const T* v, const T* probs, const AttentionDims& d, const Dropout& drop) {
  const int64_t Lq = d.Lq, Lk = d.Lk, kv = d.kv, S = Lq * Lk, BH = d.heads();
  const ConvertOnce<T> dctx_once(dctx, BH * Lq * kv);  // bf16: read by the dv and dp products
  // dv[bh] [Lk,kv] = p̃[bh]ᵀ · dctx[bh], p̃ = dropout(p)
  const T* p = probs;
  if (drop.active()) {
    std::copy_n(probs, BH * S, scratch);
    T5_ISA_NS::dropout_apply(scratch, BH * S, drop);
    p = scratch;
  }
  matmul_batched<T>(Trans::T, Trans::N, Lk, kv, Lq, T(1), p, Lk, S, dctx, kv, Lq * kv, T(0), dv, kv, Lk * kv, BH);
  // dp̃[bh] [Lq,Lk] = dctx[bh] · v[bh]ᵀ, then back through dropout
  matmul_batched<T>(Trans::N, Trans::T, Lq, Lk, kv, T(1), dctx, kv, Lq * kv, v, kv, Lk * kv, T(0), scratch, Lk, S, BH);
  T5_ISA_NS::dropout_apply(scratch, BH * S, drop);
  // softmax backward: ds = p ⊙ (dp − Σ_j p dp); masked keys have p = 0 and get 0.
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < BH * Lq; ++r) {
    const T* pr = probs + r * Lk;
    T* g = scratch + r * Lk;
    T dot = T(0);
#pragma omp simd reduction(+ : dot)
    for (int64_t j = 0; j < Lk; ++j) dot += pr[j] * g[j];
#pragma omp simd
    for (int64_t j = 0; j < Lk; ++j) g[j] = pr[j] * (g[j] - dot);
  }
  if (dbias) {
    // dbias[h,i,:] += Σ_b ds[b,h,i,:], one bias row per iteration, batch summed in order.
#pragma omp parallel for schedule(static)
    for (int64_t hi = 0; hi < d.nh * Lq; ++hi) {
      const int64_t h = hi / Lq, i = hi % Lq;
      T* out = dbias + h * S + i * Lk;
      for (int64_t b = 0; b < d.B; ++b) {
        const T* src = scratch + (b * d.nh + h) * S + i * Lk;
#pragma omp simd
        for (int64_t j = 0; j < Lk; ++j) out[j] += src[j];
      }
    }
  }
  // dq[bh] = ds · k ; dk[bh] = dsᵀ · q
  const ConvertOnce<T> ds_once(scratch, BH * S);  // bf16: read by both
  matmul_batched<T>(Trans::N, Trans::N, Lq, kv, Lk, T(1), scratch, Lk, S, k, kv, Lk * kv, T(0), dq, kv, Lq * kv, BH);
  matmul_batched<T>(Trans::T, Trans::N, Lk, kv, Lq, T(1), scratch, Lk, S, q, kv, Lq * kv, T(0), dk, kv, Lk * kv, BH);
}

// ---------------------------------------------------------------- feed-forward activations
template <class T>
void relu_forward(T* h, const T* a, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) h[i] = a[i] > T(0) ? a[i] : T(0);
}

template <class T>
void relu_backward(T* da, const T* dh, const T* mask, int64_t n, Write write) {
  if (write == Write::overwrite) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) da[i] = mask[i] > T(0) ? dh[i] : T(0);
    return;
  }
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) da[i] += mask[i] > T(0) ? dh[i] : T(0);
}

namespace {
template <class T> constexpr T kSqrt2OverPi = T(0.7978845608028654);  // √(2/π)
}

template <class T>
T gelu_tanh(T x) {
  return T(0.5) * x * (T(1) + tanh_approx(kSqrt2OverPi<T> * (x + T(0.044715) * x * x * x)));
}

template <class T>
void gated_gelu_forward(T* h, const T* a, const T* b, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) h[i] = gelu_tanh(a[i]) * b[i];
}

namespace {
template <class T, Write kWrite>
void gated_gelu_backward_as(T* da, T* db, const T* dh, const T* a, const T* b, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const T x = a[i];
    const T u = kSqrt2OverPi<T> * (x + T(0.044715) * x * x * x);
    const T t = tanh_approx(u);
    const T gelu = T(0.5) * x * (T(1) + t);
    const T dgelu = T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * kSqrt2OverPi<T> * (T(1) + T(3 * 0.044715) * x * x);
    const T ga = dh[i] * b[i] * dgelu, gb = dh[i] * gelu;
    if constexpr (kWrite == Write::add) {
      da[i] += ga;
      db[i] += gb;
    } else {
      da[i] = ga;
      db[i] = gb;
    }
  }
}
}  // namespace

template <class T>
void gated_gelu_backward(T* da, T* db, const T* dh, const T* a, const T* b, int64_t n, Write write) {
  if (write == Write::add)
    gated_gelu_backward_as<T, Write::add>(da, db, dh, a, b, n);
  else
    gated_gelu_backward_as<T, Write::overwrite>(da, db, dh, a, b, n);
}

// ---------------------------------------------------------------- loss
namespace {
constexpr int64_t kSumBlock = 1024;  // logits summed in the working precision per block, in double across
}  // namespace

template <class T>
void cross_entropy_forward_backward(T* dlogits, double* sum_ce, double* sum_z, const T* logits,
                                    const int32_t* labels, int64_t N, int64_t V, double z_coef, double grad_scale) {
  double ce = 0.0, z = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : ce, z)
  for (int64_t n = 0; n < N; ++n) {
    const T* row = logits + n * V;
    T* g = dlogits ? dlogits + n * V : nullptr;
    if (labels[n] < 0) {
      if (g) std::fill_n(g, V, T(0));
      continue;
    }
    T mx = row[0];
#pragma omp simd reduction(max : mx)
    for (int64_t v = 0; v < V; ++v) mx = mx > row[v] ? mx : row[v];  // not std::max: GCC vectorises this
    // One exp per logit: e_v = exp(x_v − max), kept in g (which may alias row) when a gradient is wanted.
    // Sums run in T over blocks (vectorised) and in double across blocks.
    const double x_label = double(row[labels[n]]);
    double sum = 0.0;
    for (int64_t v0 = 0; v0 < V; v0 += kSumBlock) {
      const int64_t v1 = std::min(V, v0 + kSumBlock);
      T block = T(0);
      if (g) {
#pragma omp simd reduction(+ : block)
        for (int64_t v = v0; v < v1; ++v) {
          const T e = exp_approx(row[v] - mx);
          g[v] = e;
          block += e;
        }
      } else {
#pragma omp simd reduction(+ : block)
        for (int64_t v = v0; v < v1; ++v) block += exp_approx(row[v] - mx);
      }
      sum += double(block);
    }
    const double log_z = double(mx) + std::log(sum);
    ce += log_z - x_label;
    z += z_coef * log_z * log_z;
    if (!g) continue;
    // d(logZ − x_y)/dx = softmax − onehot;  d(c·logZ²)/dx = 2c·logZ·softmax;  softmax = e / sum
    const T sm_scale = T(grad_scale * (1.0 + 2.0 * z_coef * log_z) / sum);
#pragma omp simd
    for (int64_t v = 0; v < V; ++v) g[v] *= sm_scale;
    g[labels[n]] -= T(grad_scale);
  }
  *sum_ce += ce;
  *sum_z += z;
}

// ---------------------------------------------------------------- the table core/layers.cpp dispatches through
// constexpr + constinit: the tables are filled by the compiler, not by code that runs at start-up. A
// dynamic initialiser in this file would be compiled for this file's level and run on every CPU
// (tests/portable_test.cpp caught one filling the table with AVX-512 stores on an AVX2-only CPU).
template <class T>
constexpr LayerKernels<T> layer_table() {
  return {.dropout_apply = &dropout_apply<T>,
          .embedding_forward = &embedding_forward<T>,
          .embedding_backward = &embedding_backward<T>,
          .linear_forward = &linear_forward<T>,
          .linear_backward = &linear_backward<T>,
          .rmsnorm_forward = &rmsnorm_forward<T>,
          .rmsnorm_backward = &rmsnorm_backward<T>,
          .relative_bias_forward = &relative_bias_forward<T>,
          .relative_bias_backward = &relative_bias_backward<T>,
          .split_heads = &split_heads<T>,
          .merge_heads = &merge_heads<T>,
          .attention_forward = &attention_forward<T>,
          .attention_backward = &attention_backward<T>,
          .relu_forward = &relu_forward<T>,
          .relu_backward = &relu_backward<T>,
          .gelu_tanh = &gelu_tanh<T>,
          .gated_gelu_forward = &gated_gelu_forward<T>,
          .gated_gelu_backward = &gated_gelu_backward<T>,
          .cross_entropy_forward_backward = &cross_entropy_forward_backward<T>};
}

extern constinit const LayerKernels<float> kLayersFloat = layer_table<float>();
extern constinit const LayerKernels<double> kLayersDouble = layer_table<double>();

}  // namespace T5_ISA_NS
}  // namespace t5
