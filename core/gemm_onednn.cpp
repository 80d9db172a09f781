// oneDNN backends of the GEMM interface (core/gemm.h): f32 matmul and bf16 matmul (AMX on Sapphire
// Rapids) with f32 accumulation and output. Creating a oneDNN primitive costs far more than running a
// T5-sized product, so primitives are cached by everything they bake in: data type, transposes,
// sizes, leading dimensions, batch strides, alpha (output scale) and beta (sum post-op).
// Sources: oneDNN 2.6 developer guide, "Matrix Multiplication" primitive and "Primitive Attributes:
// Post-ops / output scales". fpmath_mode::bf16 on an f32 matmul does not reach AMX in 2.6 (MACHINE.md),
// so bf16 operands are converted explicitly.
#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include "core/error.h"
#include "core/gemm.h"

namespace t5 {
namespace {

using dt = dnnl::memory::data_type;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& thread_stream() {
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

// Everything a primitive bakes in. alpha and beta enter by their bit patterns. oneDNN plans a
// primitive's work split for the threads available when it is created (one inside a parallel
// region), so that count is part of the key too. Inside a parallel region each thread gets its own
// primitive: a primitive owns one scratchpad, and two threads executing it at once corrupt each other's
// results (seen as wrong per-head attention products in the model parity tests).
using PrimitiveKey = std::array<int64_t, 21>;

int planned_threads() { return omp_in_parallel() ? 1 : omp_get_max_threads(); }
int owner_thread() { return omp_in_parallel() ? omp_get_thread_num() : -1; }

struct Layout {
  Trans ta, tb;
  int64_t M, N, K, lda, ldb, ldc;
  GemmBatch batch;
};

PrimitiveKey make_key(dt type, const Layout& l, float alpha, float beta) {
  const GemmBatch& b = l.batch;
  return {int64_t(type), int64_t(l.ta), int64_t(l.tb), l.M, l.N, l.K, l.lda, l.ldb, l.ldc,
          int64_t(std::bit_cast<uint32_t>(alpha)), int64_t(std::bit_cast<uint32_t>(beta)), b.outer, b.inner,
          b.a_outer, b.a_inner, b.b_outer, b.b_inner, b.c_outer, b.c_inner, planned_threads(), owner_thread()};
}

// A [rows, cols] operand view (rows x cols of op(X)) stored with leading dimension ld, transposed or not,
// as a oneDNN descriptor; batched products add two leading batch dimensions with the given strides.
dnnl::memory::desc operand_desc(dt type, Trans t, int64_t rows, int64_t cols, int64_t ld, const GemmBatch& b,
                                int64_t stride_outer, int64_t stride_inner) {
  const int64_t row_stride = t == Trans::N ? ld : 1;
  const int64_t col_stride = t == Trans::N ? 1 : ld;
  if (b.outer == 1 && b.inner == 1) return dnnl::memory::desc({rows, cols}, type, {row_stride, col_stride});
  // A batch dimension of size 1 never advances; give it a harmless stride (oneDNN rejects some zeros).
  const int64_t extent = rows * cols * ld;
  return dnnl::memory::desc({b.outer, b.inner, rows, cols}, type,
                            {b.outer == 1 ? extent : stride_outer, b.inner == 1 ? extent : stride_inner,
                             row_stride, col_stride});
}

struct CachedMatmul {
  dnnl::matmul primitive;
  dnnl::memory::desc a, b, c;
};

std::mutex g_cache_mutex;
std::map<PrimitiveKey, std::unique_ptr<CachedMatmul>> g_cache;

const CachedMatmul& cached_matmul(dt type, const Layout& l, float alpha, float beta) {
  const PrimitiveKey key = make_key(type, l, alpha, beta);
  std::lock_guard<std::mutex> lock(g_cache_mutex);
  auto it = g_cache.find(key);
  if (it != g_cache.end()) return *it->second;
  const GemmBatch& b = l.batch;
  auto entry = std::make_unique<CachedMatmul>();
  entry->a = operand_desc(type, l.ta, l.M, l.K, l.lda, b, b.a_outer, b.a_inner);
  entry->b = operand_desc(type, l.tb, l.K, l.N, l.ldb, b, b.b_outer, b.b_inner);
  entry->c = operand_desc(dt::f32, Trans::N, l.M, l.N, l.ldc, b, b.c_outer, b.c_inner);
  dnnl::primitive_attr attr;
  if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
  if (beta != 0.0f) {
    dnnl::post_ops ops;
    ops.append_sum(beta);
    attr.set_post_ops(ops);
  }
  const dnnl::matmul::desc desc(entry->a, entry->b, entry->c);
  const dnnl::matmul::primitive_desc pd(desc, attr, cpu_engine());
  entry->primitive = dnnl::matmul(pd);
  return *g_cache.emplace(key, std::move(entry)).first->second;
}

// C = beta * C for the degenerate products oneDNN does not take (K == 0 or alpha == 0).
void scale_only(const Layout& l, float beta, float* C) {
  const GemmBatch& b = l.batch;
  for (int64_t o = 0; o < b.outer; ++o)
    for (int64_t i = 0; i < b.inner; ++i)
      for (int64_t r = 0; r < l.M; ++r) {
        float* row = C + o * b.c_outer + i * b.c_inner + r * l.ldc;
        for (int64_t c = 0; c < l.N; ++c) row[c] = beta == 0.0f ? 0.0f : beta * row[c];
      }
}

void run_matmul(dt type, const Layout& l, float alpha, const void* A, const void* B, float beta, float* C) {
  if (l.M == 0 || l.N == 0 || l.batch.outer == 0 || l.batch.inner == 0) return;
  if (l.K == 0 || alpha == 0.0f) return scale_only(l, beta, C);
  const CachedMatmul& m = cached_matmul(type, l, alpha, beta);
  dnnl::memory a(m.a, cpu_engine(), const_cast<void*>(A));
  dnnl::memory b(m.b, cpu_engine(), const_cast<void*>(B));
  dnnl::memory c(m.c, cpu_engine(), C);
  dnnl::stream& s = thread_stream();
  m.primitive.execute(s, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
  s.wait();
}

// Small per-head products get slower when one product is split over threads (MACHINE.md), so the
// batch is split instead: each piece is one single-threaded batched primitive over a contiguous range
// of the outer dimension (or of the inner one when there are fewer outer products than threads).
// Pieces are handed out dynamically, a few per thread, so that a thread the shared machine preempts
// does not hold up the others at the closing barrier.
void run_batched(dt type, const Layout& l, float alpha, const void* A, const void* B, float beta, float* C,
                 size_t operand_bytes) {
  const GemmBatch& b = l.batch;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const bool split_outer = b.outer >= threads;
  const int64_t extent = split_outer ? b.outer : b.inner;
  const int64_t chunks = std::min<int64_t>(threads == 1 ? 1 : 4 * threads, extent);
#pragma omp parallel for schedule(dynamic, 1) if (chunks > 1)
  for (int64_t t = 0; t < chunks; ++t) {
    const int64_t begin = extent * t / chunks, end = extent * (t + 1) / chunks;
    Layout part = l;
    int64_t a_off, b_off, c_off;
    if (split_outer) {
      part.batch.outer = end - begin;
      a_off = begin * b.a_outer, b_off = begin * b.b_outer, c_off = begin * b.c_outer;
    } else {
      part.batch.inner = end - begin;
      a_off = begin * b.a_inner, b_off = begin * b.b_inner, c_off = begin * b.c_inner;
    }
    run_matmul(type, part, alpha, static_cast<const char*>(A) + a_off * operand_bytes,
               static_cast<const char*>(B) + b_off * operand_bytes, beta, C + c_off);
  }
}

// Packs the stored rows x cols block of X (leading dimension ld) into dense bf16 (leading dim cols).
const bf16* packed_bf16(const float* X, int64_t rows, int64_t cols, int64_t ld, std::vector<bf16>& scratch) {
  scratch.resize(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r) to_bf16(X + r * ld, scratch.data() + r * cols, cols);
  return scratch.data();
}

uint16_t bf16_bits(float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40u);  // quiet NaN stays NaN
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);                  // round to nearest even
}

}  // namespace

void to_bf16(const float* src, bf16* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i].bits = bf16_bits(src[i]);
}

void from_bf16(const bf16* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = std::bit_cast<float>(uint32_t(src[i].bits) << 16);
}

float round_to_bf16(float x) { return std::bit_cast<float>(uint32_t(bf16_bits(x)) << 16); }

void gemm_onednn(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  run_matmul(dt::f32, {ta, tb, M, N, K, lda, ldb, ldc, {}}, alpha, A, B, beta, C);
}

void gemm_batched_onednn(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                         int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                         const GemmBatch& batch) {
  run_batched(dt::f32, {ta, tb, M, N, K, lda, ldb, ldc, batch}, alpha, A, B, beta, C, sizeof(float));
}

void gemm_bf16(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const bf16* A, int64_t lda,
               const bf16* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  run_matmul(dt::bf16, {ta, tb, M, N, K, lda, ldb, ldc, {}}, alpha, A, B, beta, C);
}

void gemm_bf16(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
               int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  thread_local std::vector<bf16> scratch_a, scratch_b;
  const int64_t a_rows = ta == Trans::N ? M : K, a_cols = ta == Trans::N ? K : M;
  const int64_t b_rows = tb == Trans::N ? K : N, b_cols = tb == Trans::N ? N : K;
  const bf16* a = packed_bf16(A, a_rows, a_cols, lda, scratch_a);
  const bf16* b = packed_bf16(B, b_rows, b_cols, ldb, scratch_b);
  gemm_bf16(ta, tb, M, N, K, alpha, a, a_cols, b, b_cols, beta, C, ldc);
}

void gemm_batched_bf16(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const bf16* A,
                       int64_t lda, const bf16* B, int64_t ldb, float beta, float* C, int64_t ldc,
                       const GemmBatch& batch) {
  run_batched(dt::bf16, {ta, tb, M, N, K, lda, ldb, ldc, batch}, alpha, A, B, beta, C, sizeof(bf16));
}

int64_t onednn_cached_primitives() {
  std::lock_guard<std::mutex> lock(g_cache_mutex);
  return int64_t(g_cache.size());
}

std::string onednn_version() {
  const dnnl_version_t* v = dnnl_version();
  return fmt::format("{}.{}.{}", v->major, v->minor, v->patch);
}

}  // namespace t5
