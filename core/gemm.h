// One small GEMM interface for every matrix product in the model. Row-major throughout.
//   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C
// op(X) = X or Xᵀ; lda/ldb/ldc are row strides of the matrices as stored. The naive backend is the
// oracle every fast backend is tested against (STYLE.md, ggml test-backend-ops) and never goes away.
#pragma once

#include <cstdint>
#include <string>

namespace t5 {

enum class Trans { N, T };
enum class GemmBackend { naive, openblas, onednn };

const char* to_string(GemmBackend b);
GemmBackend parse_gemm_backend(const std::string& text);  // throws t5::Error

// The backend used by gemm() and gemm_batched() in this process (default: the fastest built in).
void set_gemm_backend(GemmBackend b);
GemmBackend gemm_backend();

void gemm(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// `count` independent products with element strides between consecutive A, B and C matrices
// (attention's per batch x head products). Parallelised over the batch; each product runs on one
// thread (small GEMMs get slower with two BLAS threads, MACHINE.md).
void gemm_batched(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                  int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
                  float* C, int64_t ldc, int64_t stride_c, int64_t count);

// Explicit backends (tests and benchmarks call these directly).
void gemm_naive(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void gemm_openblas(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// OpenBLAS's build configuration string (must contain USE_OPENMP, MACHINE.md) and core name.
std::string openblas_config();
// oneDNN's version "major.minor.patch".
std::string onednn_version();

}  // namespace t5
