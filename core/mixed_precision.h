// bf16 mixed precision for whole passes (issue 6): while a Bf16Scope is alive, the f32 GEMM interface
// of core/gemm.h (gemm, gemm_batched) runs every product with bf16 operands on AMX through oneDNN,
// accumulating and writing f32 (on a CPU without a native bf16 matmul: the same bf16 values widened to
// f32 on oneDNN's f32 matmul, core/gemm.h "emulated"). Everything else (norms, softmax, loss, optimizer) stays f32 because it
// never goes through these calls. Operands inside a registered bf16 mirror (the weights, converted
// once per pass) are read from the mirror; any other operand is converted at the call into
// thread-local scratch. This keeps the model code precision-agnostic: the model converts its
// weights once, opens a scope, and runs its ordinary f32 pass.
// With the naive GEMM backend selected, the scope runs the oracle instead: naive products of the
// operands rounded to bf16 (what a bf16 pass must equal up to accumulation order; tests).
// Scope and mirrors are process-wide (OpenMP workers must see them): one bf16 pass at a time.
#pragma once

#include <cstdint>

#include "core/gemm.h"

namespace t5 {

class Bf16Scope {
 public:
  explicit Bf16Scope(bool enable = true);  // enable = false: a no-op scope (f32 pass)
  ~Bf16Scope();                            // also drops the mirrors registered under it
  Bf16Scope(const Bf16Scope&) = delete;
  Bf16Scope& operator=(const Bf16Scope&) = delete;

 private:
  bool enabled_;
};

// True while a Bf16Scope is alive.
bool bf16_gemm_active();

// `mirror` holds to_bf16 of f32[0, n) and stays valid until the enclosing scope ends: operands whose
// elements all lie in [f32, f32 + n) are read from the mirror at the same offset and strides.
void add_bf16_mirror(const float* f32, const bf16* mirror, int64_t n);

// An operand that several products of one step read (a gradient feeding both dX and dW): inside a
// bf16 scope, converts f32[0, n) once and registers it as a mirror until this object dies, so those
// products read the conversion instead of converting it each. Outside a scope it does nothing.
// Objects must die in reverse order of creation, within their scope, outside parallel regions. The
// bf16 storage is per nesting level and reused across calls (no allocation once warm).
class Bf16OperandMirror {
 public:
  Bf16OperandMirror(const float* f32, int64_t n);
  ~Bf16OperandMirror();
  Bf16OperandMirror(const Bf16OperandMirror&) = delete;
  Bf16OperandMirror& operator=(const Bf16OperandMirror&) = delete;

 private:
  int slot_ = -1;  // the mirror's index, -1 when inactive
};

// to_bf16 spread over the OpenMP threads for large n (one thread inside a parallel region).
void to_bf16_parallel(const float* src, bf16* dst, int64_t n);

// The mixed-precision products gemm() and gemm_batched() dispatch to inside a scope.
void gemm_mixed_bf16(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                     int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void gemm_batched_mixed_bf16(Trans ta, Trans tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                             int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                             const GemmBatch& batch);

}  // namespace t5
