// GEMM backends: naive (the oracle) and OpenBLAS (OpenMP build), and the dispatch of gemm() and
// gemm_batched(). oneDNN f32 and bf16 live in core/gemm_onednn.cpp.
#include "core/gemm.h"

#include <atomic>
#include <cstdlib>

#include <cblas.h>
#include <omp.h>

#include "core/cpu_isa.h"
#include "core/error.h"
#include "core/mixed_precision.h"

namespace t5 {

namespace {
std::atomic<GemmBackend> g_backend{GemmBackend::onednn};

// Applies T5SCALE_MAX_CPU_ISA to oneDNN before any primitive exists, and links core/cpu_isa.cpp (which
// re-selects OpenBLAS's kernels for the active level at start-up) into every binary that multiplies.
// A malformed cap is reported by the command's first call instead (cli/main.cpp).
const bool kIsaCapApplied = [] {
  try {
    apply_isa_cap();
    return true;
  } catch (const Error&) {
    return false;
  }
}();

inline float at(const float* X, Trans t, int64_t ld, int64_t r, int64_t c) {
  return t == Trans::N ? X[r * ld + c] : X[c * ld + r];
}
inline CBLAS_TRANSPOSE cblas(Trans t) { return t == Trans::N ? CblasNoTrans : CblasTrans; }
}  // namespace

const char* to_string(GemmBackend b) {
  switch (b) {
    case GemmBackend::naive: return "naive";
    case GemmBackend::openblas: return "openblas";
    case GemmBackend::onednn: return "onednn";
  }
  return "?";
}

GemmBackend parse_gemm_backend(const std::string& text) {
  if (text == "naive") return GemmBackend::naive;
  if (text == "openblas") return GemmBackend::openblas;
  if (text == "onednn") return GemmBackend::onednn;
  throw Error(fmt::format("unknown GEMM backend '{}'", text), "use naive, openblas or onednn");
}

const char* to_string(GemmPrecision p) { return p == GemmPrecision::fp32 ? "fp32" : "bf16"; }

GemmPrecision parse_gemm_precision(const std::string& text) {
  if (text == "fp32") return GemmPrecision::fp32;
  if (text == "bf16") return GemmPrecision::bf16;
  throw Error(fmt::format("unknown precision '{}'", text), "use fp32 or bf16");
}

void set_gemm_backend(GemmBackend b) { g_backend = b; }
GemmBackend gemm_backend() { return g_backend; }

void gemm_naive(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double sum = 0.0;  // double accumulation: the oracle should be more exact than what it checks
      for (int64_t k = 0; k < K; ++k) sum += double(at(A, ta, lda, i, k)) * double(at(B, tb, ldb, k, j));
      float& c = C[i * ldc + j];
      c = float(alpha * sum + (beta == 0.0f ? 0.0 : double(beta) * double(c)));
    }
}

void gemm_openblas(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  cblas_sgemm(CblasRowMajor, cblas(ta), cblas(tb), int(M), int(N), int(K), alpha, A, int(lda), B, int(ldb),
              beta, C, int(ldc));
}

void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (bf16_gemm_active()) return gemm_mixed_bf16(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  switch (g_backend.load()) {
    case GemmBackend::naive: return gemm_naive(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    case GemmBackend::openblas: return gemm_openblas(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    case GemmBackend::onednn: return gemm_onednn(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
}

void gemm_batched(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                  int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
                  float* C, int64_t ldc, int64_t stride_c, int64_t count) {
  const GemmBatch batch{.outer = 1, .inner = count, .a_inner = stride_a, .b_inner = stride_b, .c_inner = stride_c};
  gemm_batched(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, batch);
}

void gemm_batched(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                  int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                  const GemmBatch& batch) {
  if (bf16_gemm_active()) return gemm_batched_mixed_bf16(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, batch);
  switch (g_backend.load()) {
    case GemmBackend::naive:
      return gemm_batched_naive(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, batch);
    case GemmBackend::openblas:
      return gemm_batched_openblas(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, batch);
    case GemmBackend::onednn:
      return gemm_batched_onednn(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, batch);
  }
}

void gemm_batched_naive(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                        int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                        const GemmBatch& batch) {
  for (int64_t o = 0; o < batch.outer; ++o)
    for (int64_t i = 0; i < batch.inner; ++i)
      gemm_naive(ta, tb, M, N, K, alpha, A + o * batch.a_outer + i * batch.a_inner, lda,
                 B + o * batch.b_outer + i * batch.b_inner, ldb, beta, C + o * batch.c_outer + i * batch.c_inner,
                 ldc);
}

// Each product runs on one thread, the batch is spread over the threads (MACHINE.md: small per-head
// products get slower with two BLAS threads).
void gemm_batched_openblas(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha,
                           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                           int64_t ldc, const GemmBatch& batch) {
  const int blas_threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
  const int64_t count = batch.outer * batch.inner;
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < count; ++n) {
    const int64_t o = n / batch.inner, i = n % batch.inner;
    gemm_openblas(ta, tb, M, N, K, alpha, A + o * batch.a_outer + i * batch.a_inner, lda,
                  B + o * batch.b_outer + i * batch.b_inner, ldb, beta, C + o * batch.c_outer + i * batch.c_inner,
                  ldc);
  }
  openblas_set_num_threads(blas_threads);
}

void set_num_threads(int threads) {
  if (threads <= 0) return;
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
}

int num_threads() { return omp_get_max_threads(); }

std::string openblas_config() {
  return fmt::format("{} ({})", openblas_get_config(), openblas_get_corename());
}

}  // namespace t5
