// oneDNN backends of the GEMM interface (core/gemm.h): f32 matmul and bf16 matmul (AMX on Sapphire
// Rapids) with f32 accumulation and output. Creating a oneDNN primitive costs far more than running a
// T5-sized product, so primitives are cached by everything they bake in: data type, transposes,
// sizes, leading dimensions, batch strides, alpha (output scale) and beta (sum post-op).
// Sources: oneDNN 2.6 developer guide, "Matrix Multiplication" primitive and "Primitive Attributes:
// Post-ops / output scales". fpmath_mode::bf16 on an f32 matmul does not reach AMX in 2.6 (MACHINE.md),
// so bf16 operands are converted explicitly.
#include <algorithm>
#include <array>
#include <atomic>
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
#include "core/mixed_precision.h"

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
  // Branch-free form of bf16_bits so that the loop vectorises (AVX-512: 16 values per instruction).
  const uint32_t* u = reinterpret_cast<const uint32_t*>(src);
  uint16_t* out = reinterpret_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t x = u[i];
    const uint32_t rounded = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
    const uint32_t quiet_nan = (x >> 16) | 0x40u;
    out[i] = uint16_t((x & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
  }
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

// ---------------------------------------------------------------- bf16 mixed-precision scope
namespace {

struct Mirror {
  const float* f32;
  const bf16* b16;
  int64_t n;
};
constexpr int kMaxMirrors = 16;
std::array<Mirror, kMaxMirrors> g_mirrors;
std::atomic<int> g_mirror_count{0};
std::atomic<int> g_bf16_depth{0};

// Elements from an operand's first to its last (inclusive) + 1: the span a conversion must cover.
int64_t operand_span(Trans t, int64_t rows, int64_t cols, int64_t ld, int64_t count_outer, int64_t stride_outer,
                     int64_t count_inner, int64_t stride_inner) {
  const int64_t stored_rows = t == Trans::N ? rows : cols, stored_cols = t == Trans::N ? cols : rows;
  return (count_outer - 1) * stride_outer + (count_inner - 1) * stride_inner + (stored_rows - 1) * ld + stored_cols;
}

// The bf16 view of X [0, span): its mirror if one covers it, else a conversion into `scratch`.
const bf16* bf16_operand(const float* X, int64_t span, std::vector<bf16>& scratch) {
  const int count = g_mirror_count.load(std::memory_order_acquire);
  for (int i = 0; i < count; ++i) {
    const Mirror& m = g_mirrors[size_t(i)];
    if (X >= m.f32 && X + span <= m.f32 + m.n) return m.b16 + (X - m.f32);
  }
  if (scratch.size() < size_t(span)) scratch.resize(size_t(span));
  to_bf16_parallel(X, scratch.data(), span);
  return scratch.data();
}

// The naive backend's bf16 oracle: X [0, span) rounded to bf16 values, kept in f32.
const float* rounded_operand(const float* X, int64_t span, std::vector<float>& scratch) {
  if (scratch.size() < size_t(span)) scratch.resize(size_t(span));
  for (int64_t i = 0; i < span; ++i) scratch[size_t(i)] = round_to_bf16(X[i]);
  return scratch.data();
}

}  // namespace

Bf16Scope::Bf16Scope(bool enable) : enabled_(enable) {
  if (!enabled_) return;
  if (g_bf16_depth.fetch_add(1) == 0) return;
  g_bf16_depth.fetch_sub(1);
  throw Error("bf16 scopes do not nest (one bf16 pass at a time)");
}

Bf16Scope::~Bf16Scope() {
  if (!enabled_) return;
  g_mirror_count.store(0, std::memory_order_release);
  g_bf16_depth.fetch_sub(1);
}

bool bf16_gemm_active() { return g_bf16_depth.load(std::memory_order_relaxed) > 0; }

void add_bf16_mirror(const float* f32, const bf16* mirror, int64_t n) {
  T5_CHECK(bf16_gemm_active(), "add_bf16_mirror outside a Bf16Scope");
  const int count = g_mirror_count.load();
  T5_CHECK(count < kMaxMirrors, "more than {} bf16 mirrors", kMaxMirrors);
  g_mirrors[size_t(count)] = Mirror{f32, mirror, n};
  g_mirror_count.store(count + 1, std::memory_order_release);
}

namespace {
std::array<std::vector<bf16>, kMaxMirrors> g_operand_storage;  // per mirror slot, reused
}  // namespace

Bf16OperandMirror::Bf16OperandMirror(const float* f32, int64_t n) {
  if (!bf16_gemm_active() || n <= 0) return;
  slot_ = g_mirror_count.load();
  T5_CHECK(slot_ < kMaxMirrors, "more than {} bf16 mirrors", kMaxMirrors);
  std::vector<bf16>& storage = g_operand_storage[size_t(slot_)];
  if (storage.size() < size_t(n)) storage.resize(size_t(n));
  to_bf16_parallel(f32, storage.data(), n);
  add_bf16_mirror(f32, storage.data(), n);
}

Bf16OperandMirror::~Bf16OperandMirror() {
  if (slot_ < 0) return;
  // The newest mirror is ours (reverse-order lifetimes); the scope may already have dropped all.
  if (g_mirror_count.load() == slot_ + 1) g_mirror_count.store(slot_, std::memory_order_release);
}

void to_bf16_parallel(const float* src, bf16* dst, int64_t n) {
  constexpr int64_t kBlock = 1 << 15;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (blocks > 1 && !omp_in_parallel())
  for (int64_t b = 0; b < blocks; ++b) to_bf16(src + b * kBlock, dst + b * kBlock, std::min(kBlock, n - b * kBlock));
}

void gemm_mixed_bf16(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                     int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0 || alpha == 0.0f) return run_matmul(dt::bf16, {ta, tb, M, N, K, lda, ldb, ldc, {}}, alpha, A, B, beta, C);
  const int64_t span_a = operand_span(ta, M, K, lda, 1, 0, 1, 0), span_b = operand_span(tb, K, N, ldb, 1, 0, 1, 0);
  if (gemm_backend() == GemmBackend::naive) {  // the oracle: naive products of the bf16-rounded operands
    thread_local std::vector<float> round_a, round_b;
    return gemm_naive(ta, tb, M, N, K, alpha, rounded_operand(A, span_a, round_a), lda,
                      rounded_operand(B, span_b, round_b), ldb, beta, C, ldc);
  }
  thread_local std::vector<bf16> scratch_a, scratch_b;
  const bf16* a = bf16_operand(A, span_a, scratch_a);
  const bf16* b = bf16_operand(B, span_b, scratch_b);
  run_matmul(dt::bf16, {ta, tb, M, N, K, lda, ldb, ldc, {}}, alpha, a, b, beta, C);
}

void gemm_batched_mixed_bf16(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                             int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                             const GemmBatch& batch) {
  const Layout l{ta, tb, M, N, K, lda, ldb, ldc, batch};
  if (M == 0 || N == 0 || batch.outer == 0 || batch.inner == 0) return;
  if (K == 0 || alpha == 0.0f) return scale_only(l, beta, C);
  const int64_t span_a = operand_span(ta, M, K, lda, batch.outer, batch.a_outer, batch.inner, batch.a_inner);
  const int64_t span_b = operand_span(tb, K, N, ldb, batch.outer, batch.b_outer, batch.inner, batch.b_inner);
  if (gemm_backend() == GemmBackend::naive) {
    thread_local std::vector<float> round_a, round_b;
    return gemm_batched_naive(ta, tb, M, N, K, alpha, rounded_operand(A, span_a, round_a), lda,
                              rounded_operand(B, span_b, round_b), ldb, beta, C, ldc, batch);
  }
  thread_local std::vector<bf16> scratch_a, scratch_b;
  const bf16* a = bf16_operand(A, span_a, scratch_a);
  const bf16* b = bf16_operand(B, span_b, scratch_b);
  run_batched(dt::bf16, l, alpha, a, b, beta, C, sizeof(bf16));
}

std::string onednn_version() {
  const dnnl_version_t* v = dnnl_version();
  return fmt::format("{}.{}.{}", v->major, v->minor, v->patch);
}

}  // namespace t5
