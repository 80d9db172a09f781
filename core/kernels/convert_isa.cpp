// The bf16 conversions of core/gemm.h (to_bf16, from_bf16) for one instruction-set level: every bf16
// pass converts the weights and the shared operands once per step, so they run at the widest vectors
// the CPU has (core/kernels/dispatch.h; core/gemm_onednn.cpp dispatches to them).
#include "core/kernels/bf16_bits.h"
#include "core/kernels/dispatch.h"

namespace t5 {
namespace T5_ISA_NS {

void to_bf16(const float* src, bf16* dst, int64_t n) {
  uint16_t* out = reinterpret_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_bits(src[i]);
}

void from_bf16(const bf16* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = widened(src[i].bits);
}

extern constinit const ConvertKernels kConvert = {.to_bf16 = &to_bf16, .from_bf16 = &from_bf16};

}  // namespace T5_ISA_NS
}  // namespace t5
