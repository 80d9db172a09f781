// The GEMM ceiling MFU is measured against: the best FLOP/s of a short timed fp32 GEMM through the
// process's GEMM backend (core/gemm.h: oneDNN or OpenBLAS) at a T5-sized shape, measured once per
// sweep and stored beside its records (MACHINE.md: ceilings measured on the same machine, in the
// same run, never quoted from elsewhere).
#pragma once

#include <cstdint>
#include <string>

namespace t5 {

struct GemmCeiling {
  double flops_per_second = 0;
  int64_t m = 0, n = 0, k = 0;
  int repeats = 0;
  std::string backend;
};

// C[m,n] = A[m,k]·B[k,n], best of `repeats` after one warm-up call. Default: a batch of 32 sequences
// of 128 tokens through a d_model 512 -> d_ff 2048 projection.
GemmCeiling measure_gemm_ceiling(int64_t m = 4096, int64_t n = 2048, int64_t k = 512, int repeats = 5);

// Reads <dir>/ceiling.json if present, else measures and writes it (so a resumed or second worker
// of the same sweep uses the same ceiling).
GemmCeiling sweep_gemm_ceiling(const std::string& dir);

}  // namespace t5
