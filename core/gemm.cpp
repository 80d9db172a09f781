// GEMM backends: naive (the oracle) and OpenBLAS (OpenMP build). oneDNN f32/bf16 live in
// core/gemm_onednn.cpp once written; until then the oneDNN backend falls back to OpenBLAS.
#include "core/gemm.h"

#include <atomic>

#include <cblas.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include "core/error.h"

namespace t5 {

namespace {
std::atomic<GemmBackend> g_backend{GemmBackend::openblas};

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
  if (g_backend == GemmBackend::naive)
    gemm_naive(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else
    gemm_openblas(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm_batched(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                  int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
                  float* C, int64_t ldc, int64_t stride_c, int64_t count) {
  const GemmBackend backend = g_backend;
  const int blas_threads = openblas_get_num_threads();
  if (backend != GemmBackend::naive) openblas_set_num_threads(1);
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < count; ++b) {
    if (backend == GemmBackend::naive)
      gemm_naive(ta, tb, M, N, K, alpha, A + b * stride_a, lda, B + b * stride_b, ldb, beta, C + b * stride_c,
                 ldc);
    else
      gemm_openblas(ta, tb, M, N, K, alpha, A + b * stride_a, lda, B + b * stride_b, ldb, beta,
                    C + b * stride_c, ldc);
  }
  if (backend != GemmBackend::naive) openblas_set_num_threads(blas_threads);
}

std::string openblas_config() {
  return fmt::format("{} ({})", openblas_get_config(), openblas_get_corename());
}

std::string onednn_version() {
  const dnnl_version_t* v = dnnl_version();
  return fmt::format("{}.{}.{}", v->major, v->minor, v->patch);
}

}  // namespace t5
