// The optimizers' elementwise passes (core/kernels/optimizer_kernels.h) for one instruction-set level
// (compiled per level inside t5::T5_ISA_NS; core/kernels/dispatch.h). Moved verbatim from the
// optimizer classes of core/optimizer.cpp, which keep the state, the work plan and the threading.
#include <algorithm>
#include <cmath>

#include "core/kernels/dispatch.h"

namespace t5 {
namespace T5_ISA_NS {

double sum_squares(const float* x, int64_t n) {
  double lane[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) lane[j] += double(x[i + j]) * double(x[i + j]);
  for (; i < n; ++i) lane[0] += double(x[i]) * double(x[i]);
  double sum = 0;
  for (double l : lane) sum += l;
  return sum;
}

namespace {
double rms(const float* x, int64_t n) {
  return n > 0 ? std::sqrt(T5_ISA_NS::sum_squares(x, n)) / std::sqrt(double(n)) : 0.0;
}
}  // namespace

void adamw_update(const AdamWStep& s, float* w, float* m, float* v, const float* g, float* zero, int64_t begin,
                  int64_t end) {
  const double b1 = s.beta1, b2 = s.beta2;
  for (int64_t i = begin; i < end; ++i) {
    const float gi = g[i] * s.coef;
    w[i] *= s.decay;
    m[i] = float(b1 * m[i] + (1.0 - b1) * gi);
    v[i] = float(b2 * v[i] + (1.0 - b2) * double(gi) * double(gi));
    const double denom = std::sqrt(double(v[i])) / s.bc2_sqrt + s.eps;
    w[i] = float(double(w[i]) - s.step_size * double(m[i]) / denom);
  }
  if (zero) std::fill(zero + begin, zero + end, 0.0f);  // the chunk is still in cache
}

void adafactor_update(const AdafactorStep& s, const AdafactorBuffers& b, float* w, const float* g, float* zero,
                      int64_t n) {
  const double decay = s.decay, mixing = s.mixing;
  const float eps1 = s.eps1, coef = s.coef;
  double update_scale = s.lr;
  if (s.multiply_by_parameter_scale) update_scale *= std::max(rms(w, n), s.epsilon2);
  float* x = b.x;  // the unscaled update
  if (s.factored) {
    const int64_t R = s.R, C = s.C;
    float* vr = b.vr;
    float* vc = b.vc;
    double* col = b.col;
    std::fill_n(col, C, 0.0);
    for (int64_t r = 0; r < R; ++r) {
      double row = 0;
      for (int64_t c = 0; c < C; ++c) {
        const float gi = g[r * C + c] * coef;
        const double g2 = double(gi * gi + eps1);
        row += g2;
        col[c] += g2;
      }
      vr[r] = float(decay * vr[r] + mixing * (row / double(C)));
    }
    double* vc_root = b.vc_root;  // one root per column instead of one per element
    for (int64_t c = 0; c < C; ++c) {
      vc[c] = float(decay * vc[c] + mixing * (col[c] / double(R)));
      vc_root[c] = std::sqrt(double(vc[c]));
    }
    double vr_mean = 0;
    for (int64_t r = 0; r < R; ++r) vr_mean += vr[r];
    vr_mean /= double(R);
    for (int64_t r = 0; r < R; ++r) {
      const double r_factor = 1.0 / std::sqrt(double(vr[r]) / vr_mean);
      for (int64_t c = 0; c < C; ++c) x[r * C + c] = float(double(g[r * C + c] * coef) * r_factor / vc_root[c]);
      if (zero) std::fill_n(zero + r * C, C, 0.0f);  // the row's last read of g
    }
  } else {
    float* v = b.v;
    for (int64_t i = 0; i < n; ++i) {
      const float gi = g[i] * coef;
      v[i] = float(decay * v[i] + mixing * double(gi * gi + eps1));
      x[i] = float(double(gi) / std::sqrt(double(v[i])));
    }
    if (zero) std::fill_n(zero, n, 0.0f);
  }
  double clip = 1.0;
  if (s.clipping_threshold > 0) clip = std::max(1.0, rms(x, n) / s.clipping_threshold);
  const double scale = update_scale / clip;
  const float wd = float(s.weight_decay * update_scale);
  if (s.beta1 > 0) {
    float* m = b.m;
    const double b1 = s.beta1;
    for (int64_t i = 0; i < n; ++i) {
      m[i] = float(b1 * m[i] + (1.0 - b1) * (double(x[i]) * scale));
      w[i] = w[i] - wd * w[i] - m[i];
    }
  } else {
    for (int64_t i = 0; i < n; ++i) w[i] = w[i] - wd * w[i] - float(double(x[i]) * scale);
  }
}

extern constinit const OptimizerKernels kOptimizer = {
    .sum_squares = &sum_squares, .adamw_update = &adamw_update, .adafactor_update = &adafactor_update};

}  // namespace T5_ISA_NS
}  // namespace t5
