// oneDNN backends of the GEMM interface (core/gemm.h): f32 matmul and bf16 matmul (AMX on Sapphire
// Rapids) with f32 accumulation and output. Creating a oneDNN primitive costs far more than running a
// T5-sized product, so primitives are cached by everything they bake in: data type, transposes,
// sizes, leading dimensions, batch strides, alpha (output scale) and beta (sum post-op).
// Sources: oneDNN 2.6 developer guide, "Matrix Multiplication" primitive and "Primitive Attributes:
// Post-ops / output scales". fpmath_mode::bf16 on an f32 matmul does not reach AMX in 2.6 (MACHINE.md),
// so bf16 operands are converted explicitly. Where the CPU has no native bf16 matmul, bf16 products
// are emulated on the f32 matmul over widened operands (core/gemm.h, issue 13). Every oneDNN failure
// leaves as one t5::Error naming the primitive, precision and shapes.
#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include "core/error.h"
#include "core/gemm.h"
#include "core/kernels/bf16_bits.h"
#include "core/kernels/dispatch.h"
#include "core/mixed_precision.h"
#include "core/parallel.h"

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

// What a product computes: the data type of oneDNN's operands, and the precision the caller asked for
// (an emulated bf16 product runs an f32 primitive). The precision names the product in errors.
struct Kind {
  dt type;
  const char* precision;
};
constexpr Kind kFp32{dt::f32, "fp32"}, kBf16{dt::bf16, "bf16"}, kBf16Emulated{dt::f32, "bf16 (emulated)"};

const char* status_name(dnnl_status_t s) {
  switch (s) {
    case dnnl_success: return "success";
    case dnnl_out_of_memory: return "out_of_memory";
    case dnnl_invalid_arguments: return "invalid_arguments";
    case dnnl_unimplemented: return "unimplemented";
    case dnnl_iterator_ends: return "iterator_ends";
    case dnnl_runtime_error: return "runtime_error";
    case dnnl_not_required: return "not_required";
  }
  return "unknown";
}

const char* trans_name(Trans t) { return t == Trans::N ? "N" : "T"; }

// "bf16 (bf16 x bf16 -> f32) M=.. N=.. K=.. ta=N tb=T lda=.. ldb=.. ldc=.. alpha=1 beta=0[ batch 2x4]".
std::string describe_product(Kind k, const Layout& l, float alpha, float beta) {
  const char* type = k.type == dt::bf16 ? "bf16" : "f32";
  std::string s = fmt::format("{} ({} x {} -> f32) M={} N={} K={} ta={} tb={} lda={} ldb={} ldc={} alpha={} beta={}",
                              k.precision, type, type, l.M, l.N, l.K, trans_name(l.ta), trans_name(l.tb), l.lda, l.ldb,
                              l.ldc, alpha, beta);
  if (l.batch.outer != 1 || l.batch.inner != 1) s += fmt::format(" batch {}x{}", l.batch.outer, l.batch.inner);
  return s;
}

std::string failure_hint(dnnl_status_t status, Kind k) {
  switch (status) {
    case dnnl_unimplemented:
      return k.type == dt::bf16 ? "this CPU has no bf16 matmul in oneDNN; T5SCALE_BF16_EMULATE=1 runs bf16 products "
                                  "emulated on the f32 matmul (same numerics, f32 speed)"
                                : "oneDNN has no implementation for this layout: report this line as a bug";
    case dnnl_invalid_arguments:
      return "the sizes or leading dimensions are impossible (a bug in the caller): report this line";
    case dnnl_out_of_memory: return "oneDNN ran out of memory: use a smaller --batch or shorter lengths";
    default: return {};
  }
}

// The one-line error of a oneDNN failure while `stage` ("creating the primitive", "executing").
[[noreturn]] void throw_matmul_error(const char* stage, const dnnl::error& e, Kind k, const Layout& l, float alpha,
                                     float beta) {
  throw Error(fmt::format("oneDNN {} matmul failed {}: {}: {} (status {})", onednn_version(), stage,
                          describe_product(k, l, alpha, beta), e.what(), status_name(e.status)),
              failure_hint(e.status, k));
}

struct CachedMatmul {
  dnnl::matmul primitive;
  dnnl::memory::desc a, b, c;
};

std::mutex g_cache_mutex;
std::map<PrimitiveKey, std::unique_ptr<CachedMatmul>> g_cache;

// `named`: the product errors name (the caller's whole batched product when `l` is one piece of it).
const CachedMatmul& cached_matmul(Kind k, const Layout& l, float alpha, float beta, const Layout& named) {
  const PrimitiveKey key = make_key(k.type, l, alpha, beta);
  std::lock_guard<std::mutex> lock(g_cache_mutex);
  auto it = g_cache.find(key);
  if (it != g_cache.end()) return *it->second;
  const GemmBatch& b = l.batch;
  auto entry = std::make_unique<CachedMatmul>();
  try {
    entry->a = operand_desc(k.type, l.ta, l.M, l.K, l.lda, b, b.a_outer, b.a_inner);
    entry->b = operand_desc(k.type, l.tb, l.K, l.N, l.ldb, b, b.b_outer, b.b_inner);
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
  } catch (const dnnl::error& e) {
    throw_matmul_error("creating the primitive", e, k, named, alpha, beta);
  }
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

bool empty_product(const Layout& l) { return l.M == 0 || l.N == 0 || l.batch.outer == 0 || l.batch.inner == 0; }
// No product to compute at all (oneDNN does not take K == 0 or alpha == 0: C = beta * C, or nothing).
bool degenerate_product(const Layout& l, float alpha) { return empty_product(l) || l.K == 0 || alpha == 0.0f; }

void run_piece(Kind k, const Layout& l, float alpha, const void* A, const void* B, float beta, float* C,
               const Layout& named) {
  if (empty_product(l)) return;
  if (l.K == 0 || alpha == 0.0f) return scale_only(l, beta, C);
  const CachedMatmul& m = cached_matmul(k, l, alpha, beta, named);
  try {
    dnnl::memory a(m.a, cpu_engine(), const_cast<void*>(A));
    dnnl::memory b(m.b, cpu_engine(), const_cast<void*>(B));
    dnnl::memory c(m.c, cpu_engine(), C);
    dnnl::stream& s = thread_stream();
    m.primitive.execute(s, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
    s.wait();
  } catch (const dnnl::error& e) {
    throw_matmul_error("executing", e, k, named, alpha, beta);
  }
}

void run_matmul(Kind k, const Layout& l, float alpha, const void* A, const void* B, float beta, float* C) {
  run_piece(k, l, alpha, A, B, beta, C, l);
}

// Small per-head products get slower when one product is split over threads (MACHINE.md), so the
// batch is split instead: each piece is one single-threaded batched primitive over a contiguous range
// of the outer dimension (or of the inner one when there are fewer outer products than threads).
// Pieces are handed out dynamically, a few per thread, so that a thread the shared machine preempts
// does not hold up the others at the closing barrier.
void run_batched(Kind k, const Layout& l, float alpha, const void* A, const void* B, float beta, float* C) {
  const size_t operand_bytes = k.type == dt::bf16 ? sizeof(bf16) : sizeof(float);
  const GemmBatch& b = l.batch;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const bool split_outer = b.outer >= threads;
  const int64_t extent = split_outer ? b.outer : b.inner;
  const int64_t chunks = std::min<int64_t>(threads == 1 ? 1 : 4 * threads, extent);
  FirstException errors;
#pragma omp parallel for schedule(dynamic, 1) if (chunks > 1)
  for (int64_t t = 0; t < chunks; ++t) errors.run([&] {
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
    run_piece(k, part, alpha, static_cast<const char*>(A) + a_off * operand_bytes,
              static_cast<const char*>(B) + b_off * operand_bytes, beta, C + c_off, l);
  });
  errors.rethrow();
}

// Packs the stored rows x cols block of X (leading dimension ld) into dense bf16 (leading dim cols).
// Impossible sizes convert nothing (oneDNN then names them in its error).
const bf16* packed_bf16(const float* X, int64_t rows, int64_t cols, int64_t ld, std::vector<bf16>& scratch) {
  if (rows <= 0 || cols <= 0) return scratch.data();
  scratch.resize(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r) to_bf16(X + r * ld, scratch.data() + r * cols, cols);
  return scratch.data();
}


// convert(begin, count) over [0, n) in blocks spread over the OpenMP threads when n is large (one
// thread inside a parallel region). Conversions do not throw.
template <class Convert>
void convert_in_blocks(int64_t n, Convert convert) {
  constexpr int64_t kBlock = 1 << 15;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (blocks > 1 && !omp_in_parallel())
  for (int64_t b = 0; b < blocks; ++b) convert(b * kBlock, std::min(kBlock, n - b * kBlock));
}

// Elements from an operand's first to its last (inclusive) + 1: the span a conversion must cover.
int64_t operand_span(Trans t, int64_t rows, int64_t cols, int64_t ld, int64_t count_outer, int64_t stride_outer,
                     int64_t count_inner, int64_t stride_inner) {
  const int64_t stored_rows = t == Trans::N ? rows : cols, stored_cols = t == Trans::N ? cols : rows;
  return (count_outer - 1) * stride_outer + (count_inner - 1) * stride_inner + (stored_rows - 1) * ld + stored_cols;
}
int64_t span_a(const Layout& l) {
  return operand_span(l.ta, l.M, l.K, l.lda, l.batch.outer, l.batch.a_outer, l.batch.inner, l.batch.a_inner);
}
int64_t span_b(const Layout& l) {
  return operand_span(l.tb, l.K, l.N, l.ldb, l.batch.outer, l.batch.b_outer, l.batch.inner, l.batch.b_inner);
}

// --- the emulated path: f32 scratch holding bf16 values, with the operand's own layout (same ld and
// strides), so the f32 primitive reads it exactly where the bf16 one would have read the bf16 operand.
// Scratch is per thread and only grows: no allocation once warm. An impossible size (span <= 0)
// converts nothing and is left to oneDNN to name in its error.
float* emulation_scratch(std::vector<float>& scratch, int64_t& span) {
  span = std::max<int64_t>(span, 0);
  if (scratch.size() < size_t(span)) scratch.resize(size_t(span));
  return scratch.data();
}

const float* widened_operand(const bf16* X, int64_t span, std::vector<float>& scratch) {
  float* out = emulation_scratch(scratch, span);
  convert_in_blocks(span, [&](int64_t begin, int64_t n) { from_bf16(X + begin, out + begin, n); });
  return out;
}

const float* rounded_f32_operand(const float* X, int64_t span, std::vector<float>& scratch) {
  float* out = emulation_scratch(scratch, span);
  convert_in_blocks(span, [&](int64_t begin, int64_t n) {
    for (int64_t i = begin; i < begin + n; ++i) out[i] = widened(bf16_bits(X[i]));
  });
  return out;
}

// Whether this process's bf16 products run natively (see core/gemm.h). oneDNN 2.6's bf16 GEMM on
// AVX-512 without the BF16 instructions ("gemm:jit", capped at AVX512_CORE) emulates them inside
// oneDNN: 38 GFLOP/s against 110 for its f32 matmul there (1024x1024x256, one thread), and our
// emulation runs at the f32 rate. So only a CPU whose effective ISA
// (after ONEDNN_MAX_CPU_ISA) has AVX512-BF16 or AMX counts, and oneDNN must create the primitive.
bool probe_bf16_matmul() {
  const unsigned isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const unsigned with_bf16 = static_cast<unsigned>(dnnl_cpu_isa_avx512_core_bf16);
  if ((isa & with_bf16) != with_bf16) return false;
  try {
    const dnnl::memory::desc a({16, 16}, dt::bf16, {16, 1}), c({16, 16}, dt::f32, {16, 1});
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, a, c), cpu_engine());
    return true;
  } catch (const dnnl::error&) {
    return false;
  }
}

bool env_forces_bf16_emulation() {
  const char* v = std::getenv("T5SCALE_BF16_EMULATE");
  return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
}

std::atomic<bool> g_bf16_emulation_forced{false};

}  // namespace

bool bf16_matmul_native() {
  static const bool native = !env_forces_bf16_emulation() && probe_bf16_matmul();
  return native && !g_bf16_emulation_forced.load(std::memory_order_relaxed);
}

void force_bf16_emulation(bool on) { g_bf16_emulation_forced.store(on); }

const char* to_string(PrecisionPath p) { return p == PrecisionPath::native ? "native" : "emulated"; }

PrecisionPath precision_path(GemmPrecision p) {
  return p == GemmPrecision::bf16 && !bf16_matmul_native() ? PrecisionPath::emulated : PrecisionPath::native;
}

std::string precision_label(GemmPrecision p, PrecisionPath path) {
  return path == PrecisionPath::emulated ? fmt::format("{} (emulated)", to_string(p)) : std::string(to_string(p));
}

std::string precision_label(GemmPrecision p) { return precision_label(p, precision_path(p)); }

// The conversions run at the CPU's widest vectors (core/kernels/convert_isa.cpp).
void to_bf16(const float* src, bf16* dst, int64_t n) { active_kernels().convert->to_bf16(src, dst, n); }

void from_bf16(const bf16* src, float* dst, int64_t n) { active_kernels().convert->from_bf16(src, dst, n); }

float round_to_bf16(float x) { return widened(bf16_bits(x)); }

void gemm_onednn(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  run_matmul(kFp32, {ta, tb, M, N, K, lda, ldb, ldc, {}}, alpha, A, B, beta, C);
}

void gemm_batched_onednn(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                         int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                         const GemmBatch& batch) {
  run_batched(kFp32, {ta, tb, M, N, K, lda, ldb, ldc, batch}, alpha, A, B, beta, C);
}

namespace {

// A bf16-operand product, plain or batched: native, or emulated on widened operands.
void run_bf16(const Layout& l, float alpha, const bf16* A, const bf16* B, float beta, float* C) {
  const bool batched = l.batch.outer != 1 || l.batch.inner != 1;
  const auto run = batched ? run_batched : run_matmul;
  if (bf16_matmul_native()) return run(kBf16, l, alpha, A, B, beta, C);
  if (degenerate_product(l, alpha)) return run(kBf16Emulated, l, alpha, A, B, beta, C);
  thread_local std::vector<float> wide_a, wide_b;
  run(kBf16Emulated, l, alpha, widened_operand(A, span_a(l), wide_a), widened_operand(B, span_b(l), wide_b), beta, C);
}

}  // namespace

void gemm_bf16(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const bf16* A, int64_t lda,
               const bf16* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  run_bf16({ta, tb, M, N, K, lda, ldb, ldc, {}}, alpha, A, B, beta, C);
}

void gemm_bf16(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
               int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  const Layout l{ta, tb, M, N, K, lda, ldb, ldc, {}};
  if (!bf16_matmul_native()) {  // round straight into f32 scratch, no bf16 copy in between
    if (degenerate_product(l, alpha)) return run_matmul(kBf16Emulated, l, alpha, A, B, beta, C);
    thread_local std::vector<float> round_a, round_b;
    return run_matmul(kBf16Emulated, l, alpha, rounded_f32_operand(A, span_a(l), round_a),
                      rounded_f32_operand(B, span_b(l), round_b), beta, C);
  }
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
  run_bf16({ta, tb, M, N, K, lda, ldb, ldc, batch}, alpha, A, B, beta, C);
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

// The registered mirror holding X [0, span), at X's offset; null if none covers it.
const bf16* mirrored(const float* X, int64_t span) {
  const int count = g_mirror_count.load(std::memory_order_acquire);
  for (int i = 0; i < count; ++i) {
    const Mirror& m = g_mirrors[size_t(i)];
    if (X >= m.f32 && X + span <= m.f32 + m.n) return m.b16 + (X - m.f32);
  }
  return nullptr;
}

// The bf16 view of X [0, span): its mirror if one covers it, else a conversion into `scratch`.
const bf16* bf16_operand(const float* X, int64_t span, std::vector<bf16>& scratch) {
  if (const bf16* m = mirrored(X, span)) return m;
  span = std::max<int64_t>(span, 0);
  if (scratch.size() < size_t(span)) scratch.resize(size_t(span));
  to_bf16_parallel(X, scratch.data(), span);
  return scratch.data();
}

// The emulated path's view of X [0, span): the same bf16 values as bf16_operand, widened to f32.
const float* emulated_operand(const float* X, int64_t span, std::vector<float>& scratch) {
  if (const bf16* m = mirrored(X, span)) return widened_operand(m, span, scratch);
  return rounded_f32_operand(X, span, scratch);
}

// The naive backend's bf16 oracle: X [0, span) rounded to bf16 values, kept in f32.
const float* rounded_operand(const float* X, int64_t span, std::vector<float>& scratch) {
  if (scratch.size() < size_t(span)) scratch.resize(size_t(span));
  for (int64_t i = 0; i < span; ++i) scratch[size_t(i)] = round_to_bf16(X[i]);
  return scratch.data();
}

// gemm_mixed_bf16 and gemm_batched_mixed_bf16: the naive oracle, the native bf16 matmul, or the
// emulated one, over f32 operands (mirrored or converted here).
void run_mixed_bf16(const Layout& l, float alpha, const float* A, const float* B, float beta, float* C) {
  const bool batched = l.batch.outer != 1 || l.batch.inner != 1;
  if (degenerate_product(l, alpha)) return run_matmul(kFp32, l, alpha, A, B, beta, C);
  if (gemm_backend() == GemmBackend::naive) {  // the oracle: naive products of the bf16-rounded operands
    thread_local std::vector<float> round_a, round_b;
    const float* a = rounded_operand(A, span_a(l), round_a);
    const float* b = rounded_operand(B, span_b(l), round_b);
    if (batched) return gemm_batched_naive(l.ta, l.tb, l.M, l.N, l.K, alpha, a, l.lda, b, l.ldb, beta, C, l.ldc, l.batch);
    return gemm_naive(l.ta, l.tb, l.M, l.N, l.K, alpha, a, l.lda, b, l.ldb, beta, C, l.ldc);
  }
  const auto run = batched ? run_batched : run_matmul;
  if (!bf16_matmul_native()) {
    thread_local std::vector<float> wide_a, wide_b;
    return run(kBf16Emulated, l, alpha, emulated_operand(A, span_a(l), wide_a), emulated_operand(B, span_b(l), wide_b),
               beta, C);
  }
  thread_local std::vector<bf16> scratch_a, scratch_b;
  run(kBf16, l, alpha, bf16_operand(A, span_a(l), scratch_a), bf16_operand(B, span_b(l), scratch_b), beta, C);
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
  convert_in_blocks(n, [&](int64_t begin, int64_t count) { to_bf16(src + begin, dst + begin, count); });
}

void gemm_mixed_bf16(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                     int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  run_mixed_bf16({ta, tb, M, N, K, lda, ldb, ldc, {}}, alpha, A, B, beta, C);
}

void gemm_batched_mixed_bf16(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                             int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                             const GemmBatch& batch) {
  run_mixed_bf16({ta, tb, M, N, K, lda, ldb, ldc, batch}, alpha, A, B, beta, C);
}

std::string onednn_version() {
  const dnnl_version_t* v = dnnl_version();
  return fmt::format("{}.{}.{}", v->major, v->minor, v->patch);
}

}  // namespace t5
