// The T5 layers' entry points (core/layers.h): the matrix-product routing, dropout's mask and the
// relative-position buckets live here once; every other function forwards to the kernels of the
// instruction-set level this CPU runs (core/kernels/layers_isa.cpp, chosen in core/kernels/dispatch.cpp).
#include "core/layers.h"

#include <cmath>

#include "core/kernels/dispatch.h"

namespace t5 {

// ---------------------------------------------------------------- matmul routing
template <>
void matmul<float>(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                   const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <>
void matmul_batched<float>(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                           int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
                           float* C, int64_t ldc, int64_t stride_c, int64_t count) {
  gemm_batched(ta, tb, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c, count);
}

// Double precision: a plain loop, only for the finite-difference tests.
template <>
void matmul<double>(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                    int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double sum = 0.0;
      for (int64_t k = 0; k < K; ++k)
        sum += (ta == Trans::N ? A[i * lda + k] : A[k * lda + i]) * (tb == Trans::N ? B[k * ldb + j] : B[j * ldb + k]);
      C[i * ldc + j] = alpha * sum + (beta == 0.0 ? 0.0 : beta * C[i * ldc + j]);
    }
}

template <>
void matmul_batched<double>(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                            int64_t lda, int64_t stride_a, const double* B, int64_t ldb, int64_t stride_b,
                            double beta, double* C, int64_t ldc, int64_t stride_c, int64_t count) {
  for (int64_t b = 0; b < count; ++b)
    matmul<double>(ta, tb, M, N, K, alpha, A + b * stride_a, lda, B + b * stride_b, ldb, beta, C + b * stride_c, ldc);
}

// ---------------------------------------------------------------- dropout
namespace {
uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
}  // namespace

bool dropout_keep(const Dropout& d, int64_t index) {
  const uint64_t h = splitmix64(splitmix64(d.seed ^ splitmix64(d.site)) + uint64_t(index));
  return double(h >> 11) * 0x1.0p-53 >= d.rate;
}


int relative_position_bucket(int64_t relative_position, bool bidirectional, int64_t num_buckets,
                             int64_t max_distance) {
  int64_t n = -relative_position;
  int64_t ret = 0;
  int64_t buckets = num_buckets;
  if (bidirectional) {
    buckets /= 2;
    if (n < 0) ret += buckets;
    n = n < 0 ? -n : n;
  } else {
    n = std::max<int64_t>(n, 0);
  }
  const int64_t exact = buckets / 2;
  if (n < exact) return int(ret + n);
  // float32 arithmetic as torch does it: log of a float32 tensor, divided by a Python float that
  // torch rounds to float32, times an integer; then truncation toward zero.
  const float ratio = std::log(float(n) / float(exact));
  const float scale = float(std::log(double(max_distance) / double(exact)));
  const int64_t large = exact + int64_t(ratio / scale * float(buckets - exact));
  return int(ret + std::min<int64_t>(large, buckets - 1));
}

// ---------------------------------------------------------------- dispatch to the active kernels
namespace {
template <class T>
const LayerKernels<T>& kernels();
template <>
const LayerKernels<float>& kernels<float>() {
  static const LayerKernels<float>& k = *active_kernels().layers_float;
  return k;
}
template <>
const LayerKernels<double>& kernels<double>() {
  static const LayerKernels<double>& k = *active_kernels().layers_double;
  return k;
}
}  // namespace

template <class T>
void dropout_apply(T* x, int64_t n, const Dropout& d) {
  kernels<T>().dropout_apply(x, n, d);
}
template <class T>
void embedding_forward(T* out, const int32_t* ids, const T* table, int64_t N, int64_t dm) {
  kernels<T>().embedding_forward(out, ids, table, N, dm);
}
template <class T>
void embedding_backward(T* dtable, const T* dout, const int32_t* ids, int64_t N, int64_t dm) {
  kernels<T>().embedding_backward(dtable, dout, ids, N, dm);
}
template <class T>
void linear_forward(T* y, const T* x, const T* W, int64_t N, int64_t in, int64_t out) {
  kernels<T>().linear_forward(y, x, W, N, in, out);
}
template <class T>
void linear_backward(T* dx, T* dW, const T* dy, const T* x, const T* W, int64_t N, int64_t in, int64_t out,
                     Write dx_write) {
  kernels<T>().linear_backward(dx, dW, dy, x, W, N, in, out, dx_write);
}
template <class T>
void rmsnorm_forward(T* out, T* rstd, const T* x, const T* w, int64_t N, int64_t d, double eps) {
  kernels<T>().rmsnorm_forward(out, rstd, x, w, N, d, eps);
}
template <class T>
void rmsnorm_backward(T* dx, T* dw, const T* dout, const T* x, const T* w, const T* rstd, int64_t N, int64_t d) {
  kernels<T>().rmsnorm_backward(dx, dw, dout, x, w, rstd, N, d);
}
template <class T>
void relative_bias_forward(T* bias, const T* table, int64_t nh, int64_t Lq, int64_t Lk, bool bidirectional,
                           int64_t num_buckets, int64_t max_distance) {
  kernels<T>().relative_bias_forward(bias, table, nh, Lq, Lk, bidirectional, num_buckets, max_distance);
}
template <class T>
void relative_bias_backward(T* dtable, const T* dbias, int64_t nh, int64_t Lq, int64_t Lk, bool bidirectional,
                            int64_t num_buckets, int64_t max_distance) {
  kernels<T>().relative_bias_backward(dtable, dbias, nh, Lq, Lk, bidirectional, num_buckets, max_distance);
}
template <class T>
void split_heads(T* out, const T* in, int64_t B, int64_t L, int64_t nh, int64_t kv) {
  kernels<T>().split_heads(out, in, B, L, nh, kv);
}
template <class T>
void merge_heads(T* out, const T* in, int64_t B, int64_t L, int64_t nh, int64_t kv) {
  kernels<T>().merge_heads(out, in, B, L, nh, kv);
}
template <class T>
void attention_forward(T* ctx, T* probs, T* scratch, const T* q, const T* k, const T* v, const T* bias,
                       const int32_t* seg_q, const int32_t* seg_k, bool causal, const AttentionDims& d,
                       const Dropout& drop) {
  kernels<T>().attention_forward(ctx, probs, scratch, q, k, v, bias, seg_q, seg_k, causal, d, drop);
}
template <class T>
void attention_backward(T* dq, T* dk, T* dv, T* dbias, T* scratch, const T* dctx, const T* q, const T* k,
                        const T* v, const T* probs, const AttentionDims& d, const Dropout& drop) {
  kernels<T>().attention_backward(dq, dk, dv, dbias, scratch, dctx, q, k, v, probs, d, drop);
}
template <class T>
void relu_forward(T* h, const T* a, int64_t n) {
  kernels<T>().relu_forward(h, a, n);
}
template <class T>
void relu_backward(T* da, const T* dh, const T* mask, int64_t n, Write write) {
  kernels<T>().relu_backward(da, dh, mask, n, write);
}
template <class T>
T gelu_tanh(T x) {
  return kernels<T>().gelu_tanh(x);
}
template <class T>
void gated_gelu_forward(T* h, const T* a, const T* b, int64_t n) {
  kernels<T>().gated_gelu_forward(h, a, b, n);
}
template <class T>
void gated_gelu_backward(T* da, T* db, const T* dh, const T* a, const T* b, int64_t n, Write write) {
  kernels<T>().gated_gelu_backward(da, db, dh, a, b, n, write);
}
template <class T>
void cross_entropy_forward_backward(T* dlogits, double* sum_ce, double* sum_z, const T* logits,
                                    const int32_t* labels, int64_t N, int64_t V, double z_coef, double grad_scale) {
  kernels<T>().cross_entropy_forward_backward(dlogits, sum_ce, sum_z, logits, labels, N, V, z_coef, grad_scale);
}

// ---------------------------------------------------------------- instantiations
#define T5_INSTANTIATE_LAYERS(T)                                                                                    \
  template void dropout_apply<T>(T*, int64_t, const Dropout&);                                                      \
  template void embedding_forward<T>(T*, const int32_t*, const T*, int64_t, int64_t);                               \
  template void embedding_backward<T>(T*, const T*, const int32_t*, int64_t, int64_t);                              \
  template void linear_forward<T>(T*, const T*, const T*, int64_t, int64_t, int64_t);                               \
  template void linear_backward<T>(T*, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, Write);         \
  template void rmsnorm_forward<T>(T*, T*, const T*, const T*, int64_t, int64_t, double);                           \
  template void rmsnorm_backward<T>(T*, T*, const T*, const T*, const T*, const T*, int64_t, int64_t);              \
  template void relative_bias_forward<T>(T*, const T*, int64_t, int64_t, int64_t, bool, int64_t, int64_t);         \
  template void relative_bias_backward<T>(T*, const T*, int64_t, int64_t, int64_t, bool, int64_t, int64_t);        \
  template void split_heads<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t);                                  \
  template void merge_heads<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t);                                  \
  template void attention_forward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const int32_t*,            \
                                     const int32_t*, bool, const AttentionDims&, const Dropout&);                   \
  template void attention_backward<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*, const T*, const T*,         \
                                      const AttentionDims&, const Dropout&);                                        \
  template void relu_forward<T>(T*, const T*, int64_t);                                                             \
  template void relu_backward<T>(T*, const T*, const T*, int64_t, Write);                                           \
  template T gelu_tanh<T>(T);                                                                                       \
  template void gated_gelu_forward<T>(T*, const T*, const T*, int64_t);                                             \
  template void gated_gelu_backward<T>(T*, T*, const T*, const T*, const T*, int64_t, Write);                       \
  template void cross_entropy_forward_backward<T>(T*, double*, double*, const T*, const int32_t*, int64_t, int64_t, \
                                                  double, double);

T5_INSTANTIATE_LAYERS(float)
T5_INSTANTIATE_LAYERS(double)
#undef T5_INSTANTIATE_LAYERS

}  // namespace t5
