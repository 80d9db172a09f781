// bfloat16 rounding and widening of single values, inline so that loops over them vectorise at each
// kernel level (core/kernels/convert_isa.cpp) and in the scalar helpers of core/gemm_onednn.cpp.
#pragma once

#include <bit>
#include <cstdint>

namespace t5 {

// The bf16 bits of x, rounded to nearest even; a NaN stays a (quiet) NaN. Branch-free so that loops
// over it vectorise (AVX-512: 16 values per instruction).
inline uint16_t bf16_bits(float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const uint32_t quiet_nan = (u >> 16) | 0x40u;
  return uint16_t((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
}

inline float widened(uint16_t bits) { return std::bit_cast<float>(uint32_t(bits) << 16); }

}  // namespace t5
