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
enum class GemmPrecision { fp32, bf16 };  // bf16: bf16 operands, f32 accumulation and output

const char* to_string(GemmBackend b);
GemmBackend parse_gemm_backend(const std::string& text);  // throws t5::Error

const char* to_string(GemmPrecision p);
GemmPrecision parse_gemm_precision(const std::string& text);  // "fp32" | "bf16"; throws t5::Error

// The backend used by gemm() and gemm_batched() in this process. Default oneDNN: faster than OpenBLAS
// at every T5-sized product measured on this machine (benchmarks/gemm_bench.cpp, README Performance).
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

// Two-level batch (attention over batch x heads without moving heads apart): product (o, i) uses
// A + o*a_outer + i*a_inner, likewise B and C. gemm_batched above is outer = 1, inner = count.
struct GemmBatch {
  int64_t outer = 1, inner = 1;
  int64_t a_outer = 0, a_inner = 0, b_outer = 0, b_inner = 0, c_outer = 0, c_inner = 0;
};
void gemm_batched(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                  int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                  const GemmBatch& batch);

// --- bf16 mixed precision (AMX through oneDNN): bf16 operands, f32 accumulation and output. ---
// bfloat16 storage: the upper 16 bits of an IEEE float. Conversion rounds to nearest even (NaN kept).
struct bf16 {
  uint16_t bits;
};
void to_bf16(const float* src, bf16* dst, int64_t n);
void from_bf16(const bf16* src, float* dst, int64_t n);
float round_to_bf16(float x);  // f32 -> bf16 -> f32, the rounding to_bf16 applies

// Native or emulated bf16 (issue 13). oneDNN 2.6 multiplies bf16 natively only on CPUs with
// AVX512-BF16 or AMX. Elsewhere (AVX2-only EPYC: no bf16 matmul at all; AVX-512 without BF16: only a
// bf16 GEMM that emulates the instructions and runs slower than f32) every bf16 product below is
// emulated with the same numerics: the bf16 operands widened to f32 (exact), oneDNN's f32 matmul (a
// product of two bf16 values is exact in f32; f32 accumulation), f32 output. Results equal the native
// ones up to summation order; speed is at best f32's (the operands are converted at every product), so
// it is labelled "bf16 (emulated)" wherever a rate is shown or recorded. Decided once per process by a probe (a small bf16 matmul primitive, and the CPU
// ISA oneDNN uses, which ONEDNN_MAX_CPU_ISA caps); T5SCALE_BF16_EMULATE=1 forces emulation.
bool bf16_matmul_native();
// Tests and benchmarks: force the emulated path on (or back to the probe's answer) in this process.
void force_bf16_emulation(bool on);

// The path a precision's products take in this process: fp32 is always native.
enum class PrecisionPath { native, emulated };
const char* to_string(PrecisionPath p);  // "native" | "emulated" (records' "precision_path")
PrecisionPath precision_path(GemmPrecision p);
// What people read beside a rate: "fp32", "bf16" or "bf16 (emulated)".
std::string precision_label(GemmPrecision p, PrecisionPath path);
std::string precision_label(GemmPrecision p);  // with this process's path

// C (f32) = alpha * op(A) * op(B) + beta * C with bf16 operands. Always oneDNN (AMX / AVX512-BF16, or
// emulated as above); the oracle is gemm_naive over the bf16 values (round_to_bf16 of the f32 inputs).
void gemm_bf16(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const bf16* A, int64_t lda,
               const bf16* B, int64_t ldb, float beta, float* C, int64_t ldc);
// Same from f32 operands: converts them (per call, into thread-local scratch) first. Callers that
// reuse an operand (weights within a step) should convert it once with to_bf16 and call the above.
void gemm_bf16(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
               int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void gemm_batched_bf16(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const bf16* A,
                       int64_t lda, const bf16* B, int64_t ldb, float beta, float* C, int64_t ldc,
                       const GemmBatch& batch);

// Threads for every backend (OpenMP, OpenBLAS and oneDNN all read it); 0 leaves the default.
void set_num_threads(int threads);
int num_threads();

// Explicit backends (tests and benchmarks call these directly).
void gemm_naive(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void gemm_openblas(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void gemm_onednn(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void gemm_batched_naive(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                        int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                        const GemmBatch& batch);
void gemm_batched_openblas(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha,
                           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                           int64_t ldc, const GemmBatch& batch);
void gemm_batched_onednn(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                         int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                         const GemmBatch& batch);
// Cached oneDNN primitives (one per distinct shape/layout/alpha/beta); tests check the cache works.
int64_t onednn_cached_primitives();

// OpenBLAS's build configuration string (must contain USE_OPENMP, MACHINE.md) and core name.
std::string openblas_config();
// oneDNN's version "major.minor.patch".
std::string onednn_version();

}  // namespace t5
