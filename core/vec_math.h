// Branch-free float exp and tanh that the compiler vectorises inside plain loops (glibc's expf and
// tanhf are scalar calls unless -ffast-math, and exp in softmax and cross-entropy was ~10% of a
// t5-efficient-tiny step). Range reduction exp(x) = 2^k · e^r, |r| ≤ ln2/2, with the degree-6
// polynomial of Cephes' expf (S. Moshier, Cephes Math Library, expf.c); relative error ≤ 2 ulp on
// [-87.3, 88] (tests/layers_test.cpp checks it against std::exp). The double overloads are the
// library functions: the double instantiations of core/layers are the reference the float kernels
// are tested against.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace t5 {

// e^x for x ≤ 88 (larger x saturate at e^88); exactly 0 below -87.3 and for -inf (masked scores).
inline float exp_approx(float x) {
  const float lo = x < -87.3f ? -87.3f : x;  // comparisons, not fmin/fmax: they vectorise without -ffast-math
  const float xc = lo > 88.0f ? 88.0f : lo;
  // k = round(x / ln2) by the 1.5·2^23 trick (no floor, no float-to-int conversion: both stop GCC's
  // vectoriser); t's low mantissa bits then hold k + 0x400000.
  constexpr float kRound = 12582912.0f;
  const float t = xc * 1.44269504088896341f + kRound;
  const float k = t - kRound;
  const float r = xc - k * 0.693359375f + k * 2.12194440e-4f;  // ln2 split in two for exact reduction
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const float scale = std::bit_cast<float>((std::bit_cast<uint32_t>(t) - 0x4B400000u + 127u) << 23);
  // The product is computed unconditionally, then selected: a product inside the ?: may trap, so
  // without AVX-512's masks GCC would not if-convert it and the loop would stay scalar on AVX2.
  const float value = p * scale;
  return x < -87.3f ? 0.0f : value;
}
inline double exp_approx(double x) { return std::exp(x); }

// tanh(u) = 1 − 2/(e^{2u} + 1): absolute error ≤ ~1e-7 (relative error grows near 0, where GELU only
// uses 1 + tanh and 1 − tanh²).
inline float tanh_approx(float u) { return 1.0f - 2.0f / (exp_approx(2.0f * u) + 1.0f); }
inline double tanh_approx(double u) { return std::tanh(u); }

}  // namespace t5
