// The optimizers' elementwise passes (core/optimizer.cpp), as plain functions so that they can be
// compiled per instruction-set level and dispatched (core/kernels/dispatch.h). Results are
// bit-identical at any thread count (fixed orders) and between the levels with FMA (avx2, avx512);
// the baseline level, without FMA, rounds a few products separately (tests/kernels_test.cpp).
#pragma once

#include <cstdint>

namespace t5 {

// Σ x² in double over 8 interleaved lanes, then the lanes in order (a fixed order the compiler can
// vectorise).
double sum_squares(const float* x, int64_t n);

// torch.optim.AdamW on elements [begin, end): g' = g·coef; w *= decay; m, v EMAs in double;
// w -= step_size · m / (sqrt(v)/bc2_sqrt + eps). `zero` (null, or g itself) gets 0 there afterwards.
struct AdamWStep {
  double beta1, beta2, step_size, bc2_sqrt, eps;
  float decay, coef;
};
void adamw_update(const AdamWStep& s, float* w, float* m, float* v, const float* g, float* zero, int64_t begin,
                  int64_t end);

// Mesh TF's Adafactor on one whole tensor of n = R·C elements (factored: vr [R], vc [C]; else v [n]).
struct AdafactorStep {
  double decay, mixing;      // EMA weights of the second moment
  float eps1, coef;          // epsilon1, the clipping coefficient of the gradient
  double lr, epsilon2, clipping_threshold, weight_decay, beta1;
  bool multiply_by_parameter_scale, factored;
  int64_t R, C;              // factored shape (R·C = n)
};
struct AdafactorBuffers {
  float *vr, *vc, *v, *m;    // the slots that exist for this tensor (others null)
  float* x;                  // [n] scratch: the unscaled update
  double *col, *vc_root;     // [C] scratch (factored only)
};
void adafactor_update(const AdafactorStep& s, const AdafactorBuffers& b, float* w, const float* g, float* zero,
                      int64_t n);

}  // namespace t5
