// Layer pairs of core/layers.h checked in double precision against central finite differences
// (ggml test-backend-ops style), plus the relative position buckets against values worked by hand
// from SPEC.md §4 and the masking rules of CONTRACTS.md. The fast float kernels (vectorised exp,
// blocked reductions; benchmarks/layers_bench.cpp times them) are checked against the double
// instantiations, which use the C library's exp and tanh and serve as the naive reference.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "core/kernels/dispatch.h"
#include "core/layers.h"
#include "core/vec_math.h"

namespace t5 {
namespace {

using Vec = std::vector<double>;

Vec random_vec(size_t n, uint64_t seed, double scale = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> dist(0.0, scale);
  Vec v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// ‖analytic − numeric‖ / ‖numeric‖ for d(loss)/dx by central differences; `loss` re-runs the forward.
double fd_error(Vec& x, const Vec& analytic, const std::function<double()>& loss, double eps = 1e-6) {
  EXPECT_EQ(x.size(), analytic.size());
  double diff = 0, norm = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double keep = x[i];
    x[i] = keep + eps;
    const double up = loss();
    x[i] = keep - eps;
    const double down = loss();
    x[i] = keep;
    const double numeric = (up - down) / (2 * eps);
    diff += (analytic[i] - numeric) * (analytic[i] - numeric);
    norm += numeric * numeric;
  }
  EXPECT_GT(norm, 0.0) << "gradient is identically zero: the check could not fail";
  return std::sqrt(diff / norm);
}

constexpr double kTol = 1e-7;

TEST(RelativePositionBucket, BidirectionalMatchesHandWorkedSpecValues) {
  // 32 buckets, max distance 128 → 16 per direction, exact below 8; key before query (rel < 0) uses
  // 0..15, key after query 16..31. rel −12: 8 + int(log(12/8)/log(16)·8) = 8 + int(1.17) = 9;
  // rel −100: 8 + int(log(12.5)/log(16)·8 = 7.29) = 15; rel −200 clamps at 15; rel +8: 16 + 8 + int(0) = 24.
  const std::vector<std::pair<int, int>> cases = {
      {0, 0},    {-1, 1},    {-7, 7},    {-8, 8},    {-12, 9},   {-16, 10},  {-23, 11}, {-32, 12},
      {-64, 14}, {-100, 15}, {-127, 15}, {-128, 15}, {-200, 15}, {1, 17},    {7, 23},   {8, 24},
      {16, 26},  {32, 28},   {64, 30},   {127, 31},  {128, 31},  {1000, 31}};
  for (auto [rel, bucket] : cases) EXPECT_EQ(relative_position_bucket(rel, true, 32, 128), bucket) << "rel " << rel;
}

TEST(RelativePositionBucket, CausalMatchesHandWorkedSpecValues) {
  // Causal: 32 buckets, exact below 16, future keys (rel > 0) all bucket 0.
  // rel −23: 16 + int(log(23/16)/log(8)·16 = 2.79) = 18; rel −64: 16 + int(10.67) = 26; rel −128: 32 → 31.
  const std::vector<std::pair<int, int>> cases = {
      {0, 0},    {-1, 1},    {-7, 7},    {-8, 8},    {-12, 12}, {-16, 16}, {-23, 18}, {-32, 21}, {-64, 26},
      {-100, 30}, {-127, 31}, {-128, 31}, {-200, 31}, {1, 0},    {8, 0},    {1000, 0}};
  for (auto [rel, bucket] : cases) EXPECT_EQ(relative_position_bucket(rel, false, 32, 128), bucket) << "rel " << rel;
}

TEST(RelativePositionBucket, SmallTablesStayInRange) {
  for (int nb : {4, 8, 16, 32})
    for (int rel = -300; rel <= 300; ++rel) {
      EXPECT_LT(relative_position_bucket(rel, true, nb, 20), nb);
      EXPECT_LT(relative_position_bucket(rel, false, nb, 20), nb);
      EXPECT_GE(relative_position_bucket(rel, true, nb, 20), 0);
    }
}

TEST(LayersFiniteDifference, Linear) {
  const int64_t N = 5, in = 4, out = 3;
  Vec x = random_vec(N * in, 1), W = random_vec(out * in, 2), R = random_vec(N * out, 3), y(N * out);
  auto loss = [&] {
    linear_forward(y.data(), x.data(), W.data(), N, in, out);
    return dot(y, R);
  };
  Vec dx(N * in, 0.0), dW(out * in, 0.0);
  loss();
  linear_backward(dx.data(), dW.data(), R.data(), x.data(), W.data(), N, in, out);
  EXPECT_LT(fd_error(x, dx, loss), kTol);
  EXPECT_LT(fd_error(W, dW, loss), kTol);
}

TEST(LayersFiniteDifference, RmsNorm) {
  const int64_t N = 4, d = 6;
  Vec x = random_vec(N * d, 4), w = random_vec(d, 5), R = random_vec(N * d, 6), y(N * d), rstd(N);
  auto loss = [&] {
    rmsnorm_forward(y.data(), rstd.data(), x.data(), w.data(), N, d, 1e-6);
    return dot(y, R);
  };
  loss();
  // forward value: x·rsqrt(mean x² + eps)·w
  double ms = 0;
  for (int64_t i = 0; i < d; ++i) ms += x[i] * x[i] / double(d);
  EXPECT_NEAR(y[1], x[1] / std::sqrt(ms + 1e-6) * w[1], 1e-12);
  Vec dx(N * d, 0.0), dw(d, 0.0);
  rmsnorm_backward(dx.data(), dw.data(), R.data(), x.data(), w.data(), rstd.data(), N, d);
  EXPECT_LT(fd_error(x, dx, loss), kTol);
  EXPECT_LT(fd_error(w, dw, loss), kTol);
}

TEST(LayersFiniteDifference, EmbeddingWithRepeatedIds) {
  const int64_t V = 5, dm = 3, N = 6;
  const std::vector<int32_t> ids = {1, 4, 1, 0, 4, 1};
  Vec table = random_vec(V * dm, 7), R = random_vec(N * dm, 8), y(N * dm);
  auto loss = [&] {
    embedding_forward(y.data(), ids.data(), table.data(), N, dm);
    return dot(y, R);
  };
  loss();
  Vec dtable(V * dm, 0.0);
  embedding_backward(dtable.data(), R.data(), ids.data(), N, dm);
  EXPECT_LT(fd_error(table, dtable, loss), kTol);
}

TEST(LayersFiniteDifference, RelativeBiasSumsOverPositions) {
  const int64_t nh = 2, L = 7, nb = 8;
  for (bool bidirectional : {true, false}) {
    Vec table = random_vec(nb * nh, 9), R = random_vec(nh * L * L, 10), bias(nh * L * L);
    auto loss = [&] {
      relative_bias_forward(bias.data(), table.data(), nh, L, L, bidirectional, nb, 16);
      return dot(bias, R);
    };
    loss();
    EXPECT_EQ(bias[1 * L * L + 2 * L + 5], table[relative_position_bucket(3, bidirectional, nb, 16) * nh + 1]);
    Vec dtable(nb * nh, 0.0);
    relative_bias_backward(dtable.data(), R.data(), nh, L, L, bidirectional, nb, 16);
    EXPECT_LT(fd_error(table, dtable, loss), kTol);
  }
}

TEST(LayersFiniteDifference, Activations) {
  const int64_t n = 40;
  Vec a = random_vec(n, 11), b = random_vec(n, 12), R = random_vec(n, 13), h(n);
  auto relu_loss = [&] {
    relu_forward(h.data(), a.data(), n);
    return dot(h, R);
  };
  Vec da(n, 0.0), db(n, 0.0);
  relu_backward(da.data(), R.data(), a.data(), n);
  EXPECT_LT(fd_error(a, da, relu_loss), kTol);
  // The model keeps only h (forward in place, then hidden dropout on h) and masks the backward by h:
  // the gradient of the dropped-out relu, d(R·dropout(relu(a)))/da, checked by finite differences.
  const Dropout drop{0.3, 5, 2};
  auto dropped_loss = [&] {
    h = a;
    relu_forward(h.data(), h.data(), n);
    dropout_apply(h.data(), n, drop);
    return dot(h, R);
  };
  dropped_loss();
  Vec dh = R, da_h(n, 0.0);
  dropout_apply(dh.data(), n, drop);
  relu_backward(da_h.data(), dh.data(), h.data(), n);
  EXPECT_LT(fd_error(a, da_h, dropped_loss), kTol);

  // gelu_tanh against the formula at a hand-checked point: gelu_tanh(1) = 0.5(1 + tanh(√(2/π)·1.044715))
  EXPECT_NEAR(gelu_tanh(1.0), 0.8411919906082768, 1e-15);
  auto gated_loss = [&] {
    gated_gelu_forward(h.data(), a.data(), b.data(), n);
    return dot(h, R);
  };
  std::fill(da.begin(), da.end(), 0.0);
  gated_gelu_backward(da.data(), db.data(), R.data(), a.data(), b.data(), n);
  EXPECT_LT(fd_error(a, da, gated_loss), kTol);
  EXPECT_LT(fd_error(b, db, gated_loss), kTol);
}

TEST(LayersFiniteDifference, CrossEntropyWithZLoss) {
  const int64_t N = 4, V = 6;
  const std::vector<int32_t> labels = {2, -1, 5, 0};
  Vec logits = random_vec(N * V, 14, 2.0);
  const double z = 0.3;
  auto loss = [&] {
    double ce = 0, zz = 0;
    cross_entropy_forward_backward<double>(nullptr, &ce, &zz, logits.data(), labels.data(), N, V, z, 0.0);
    return ce + zz;
  };
  // value: row 0 CE = logZ − x_2
  double ce = 0, zz = 0;
  cross_entropy_forward_backward<double>(nullptr, &ce, &zz, logits.data(), labels.data(), 1, V, z, 0.0);
  double sum = 0;
  for (int64_t v = 0; v < V; ++v) sum += std::exp(logits[v]);
  EXPECT_NEAR(ce, std::log(sum) - logits[2], 1e-12);
  EXPECT_NEAR(zz, z * std::log(sum) * std::log(sum), 1e-12);
  Vec g(N * V);
  double ce2 = 0, z2 = 0;
  cross_entropy_forward_backward(g.data(), &ce2, &z2, logits.data(), labels.data(), N, V, z, 1.0);
  for (int64_t v = 0; v < V; ++v) EXPECT_EQ(g[1 * V + v], 0.0);  // unlabelled row
  EXPECT_LT(fd_error(logits, g, loss), kTol);
}

struct AttentionCase {
  AttentionDims d;
  bool causal;
  bool with_bias;
  double dropout;
  std::vector<int32_t> seg_q, seg_k;
};

void check_attention(const AttentionCase& c) {
  const AttentionDims& d = c.d;
  const int64_t S = d.Lq * d.Lk;
  Vec q = random_vec(d.heads() * d.Lq * d.kv, 20), k = random_vec(d.heads() * d.Lk * d.kv, 21),
      v = random_vec(d.heads() * d.Lk * d.kv, 22), bias = random_vec(d.nh * S, 23),
      R = random_vec(d.heads() * d.Lq * d.kv, 24);
  Vec ctx(R.size()), probs(d.heads() * S), scratch(d.heads() * S);
  const Dropout drop{c.dropout, 99, 5};
  auto loss = [&] {
    attention_forward(ctx.data(), probs.data(), scratch.data(), q.data(), k.data(), v.data(),
                      c.with_bias ? bias.data() : nullptr, c.seg_q.data(), c.seg_k.data(), c.causal, d, drop);
    return dot(ctx, R);
  };
  loss();
  for (double x : ctx) ASSERT_TRUE(std::isfinite(x));
  Vec dq(q.size()), dk(k.size()), dv(v.size()), dbias(bias.size(), 0.0);
  attention_backward(dq.data(), dk.data(), dv.data(), c.with_bias ? dbias.data() : nullptr, scratch.data(), R.data(),
                     q.data(), k.data(), v.data(), probs.data(), d, drop);
  EXPECT_LT(fd_error(q, dq, loss), kTol);
  EXPECT_LT(fd_error(k, dk, loss), kTol);
  EXPECT_LT(fd_error(v, dv, loss), kTol);
  if (c.with_bias) {
    EXPECT_LT(fd_error(bias, dbias, loss), kTol);
  }
}

TEST(LayersFiniteDifference, SelfAttentionWithBiasAndPadding) {
  check_attention({{2, 3, 5, 5, 4}, false, true, 0.0, {1, 1, 1, 1, 0, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 0, 1, 1, 1, 1, 1}});
}

TEST(LayersFiniteDifference, CausalPackedAttention) {
  check_attention({{2, 2, 6, 6, 3}, true, true, 0.0, {1, 1, 1, 2, 2, 0, 1, 1, 1, 1, 1, 1},
                   {1, 1, 1, 2, 2, 0, 1, 1, 1, 1, 1, 1}});
}

TEST(LayersFiniteDifference, CrossAttentionWithDropout) {
  check_attention({{2, 2, 4, 6, 3}, false, false, 0.3, {1, 1, 2, 0, 1, 1, 1, 1}, {1, 1, 1, 2, 2, 0, 1, 1, 1, 1, 0, 0}});
}

TEST(Attention, MaskedKeysGetZeroProbabilityAndCausalHidesTheFuture) {
  const AttentionDims d{1, 1, 4, 4, 2};
  Vec q = random_vec(8, 30), k = random_vec(8, 31), v = random_vec(8, 32), ctx(8), probs(16);
  const std::vector<int32_t> seg = {1, 1, 2, 2};
  attention_forward(ctx.data(), probs.data(), static_cast<double*>(nullptr), q.data(), k.data(), v.data(),
                    static_cast<const double*>(nullptr), seg.data(), seg.data(), true, d, Dropout{});
  const double expected[4][4] = {{1, 0, 0, 0}, {-1, -1, 0, 0}, {0, 0, 1, 0}, {0, 0, -1, -1}};  // −1: positive
  for (int i = 0; i < 4; ++i) {
    double row = 0;
    for (int j = 0; j < 4; ++j) {
      const double p = probs[i * 4 + j];
      row += p;
      if (expected[i][j] == 0) {
        EXPECT_EQ(p, 0.0) << i << "," << j;
      } else if (expected[i][j] == -1) {
        EXPECT_GT(p, 0.0) << i << "," << j;
      }
    }
    EXPECT_NEAR(row, 1.0, 1e-12);
  }
  EXPECT_EQ(probs[0], 1.0);
}

TEST(Attention, QueryWithoutVisibleKeysGivesZeroNotNaN) {
  // Decoder segment 2 has no encoder counterpart: its cross-attention rows see no key.
  const AttentionDims d{1, 2, 3, 3, 2};
  Vec q = random_vec(12, 40), k = random_vec(12, 41), v = random_vec(12, 42), ctx(12), probs(18), scratch(18);
  const std::vector<int32_t> seg_q = {1, 2, 2}, seg_k = {1, 1, 0};
  attention_forward(ctx.data(), probs.data(), scratch.data(), q.data(), k.data(), v.data(),
                    static_cast<const double*>(nullptr), seg_q.data(), seg_k.data(), false, d, Dropout{});
  for (int h = 0; h < 2; ++h)
    for (int i = 1; i < 3; ++i)
      for (int x = 0; x < 2; ++x) EXPECT_EQ(ctx[(h * 3 + i) * 2 + x], 0.0);
  Vec R = random_vec(12, 43), dq(12), dk(12), dv(12);
  attention_backward(dq.data(), dk.data(), dv.data(), static_cast<double*>(nullptr), scratch.data(), R.data(),
                     q.data(), k.data(), v.data(), probs.data(), d, Dropout{});
  for (double g : dq) EXPECT_TRUE(std::isfinite(g));
  for (int h = 0; h < 2; ++h)
    for (int i = 1; i < 3; ++i)
      for (int x = 0; x < 2; ++x) EXPECT_EQ(dq[(h * 3 + i) * 2 + x], 0.0);
}

TEST(Dropout, SeededRateAndScale) {
  const int64_t n = 20000;
  std::vector<float> x(n, 1.0f), y(n, 1.0f);
  dropout_apply(x.data(), n, Dropout{0.25, 7, 3});
  dropout_apply(y.data(), n, Dropout{0.25, 7, 3});
  EXPECT_EQ(x, y);  // same seed and site, same mask
  int64_t kept = 0;
  for (float v : x) {
    EXPECT_TRUE(v == 0.0f || std::abs(v - 1.0f / 0.75f) < 1e-6f);
    kept += v != 0.0f;
  }
  EXPECT_NEAR(double(kept) / n, 0.75, 0.015);
  std::vector<float> z(n, 1.0f);
  dropout_apply(z.data(), n, Dropout{0.25, 7, 4});
  EXPECT_NE(x, z);  // another site, another mask
  std::vector<float> w(n, 1.0f);
  dropout_apply(w.data(), n, Dropout{0.0, 7, 3});
  EXPECT_EQ(w, std::vector<float>(n, 1.0f));
}

TEST(Heads, SplitAndMergeAreInverse) {
  const int64_t B = 2, L = 3, nh = 3, kv = 2;
  Vec x = random_vec(B * L * nh * kv, 50), h(x.size()), back(x.size());
  split_heads(h.data(), x.data(), B, L, nh, kv);
  // element (b=1, l=2, head 1, j=0) of [B, L, nh·kv] lands at [1, 1, 2, 0] of [B, nh, L, kv]
  EXPECT_EQ(h[((1 * nh + 1) * L + 2) * kv + 0], x[(1 * L + 2) * nh * kv + 1 * kv + 0]);
  merge_heads(back.data(), h.data(), B, L, nh, kv);
  EXPECT_EQ(back, x);
}

// ---- fast float kernels against the double reference (same inputs, rounded to float)

std::vector<float> to_float(const Vec& v) { return std::vector<float>(v.begin(), v.end()); }

// max |fast − ref| / max(max |ref|, floor): a norm-free error that also catches a single bad element.
double max_error(const std::vector<float>& fast, const Vec& ref, double floor = 1e-30) {
  EXPECT_EQ(fast.size(), ref.size());
  double worst = 0, scale = floor;
  for (size_t i = 0; i < ref.size(); ++i) {
    worst = std::max(worst, std::abs(double(fast[i]) - ref[i]));
    scale = std::max(scale, std::abs(ref[i]));
  }
  EXPECT_GT(scale, floor) << "reference is all zeros: the check could not fail";
  return worst / scale;
}

// The float inputs exactly, as doubles, so that only the kernels differ.
Vec as_double(const std::vector<float>& v) { return Vec(v.begin(), v.end()); }

TEST(FastFloatMath, ExpApproxWithinFewUlpOfLibm) {
  double worst = 0;
  for (float x = -87.0f; x <= 88.0f; x += 0.001953125f) {
    const double ref = std::exp(double(x));
    worst = std::max(worst, std::abs(double(exp_approx(x)) - ref) / ref);
  }
  EXPECT_LT(worst, 3e-7);  // ~2.5 float ulp
  EXPECT_EQ(exp_approx(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_EQ(exp_approx(-100.0f), 0.0f);
  EXPECT_EQ(exp_approx(0.0f), 1.0f);
  EXPECT_TRUE(std::isnan(exp_approx(std::numeric_limits<float>::quiet_NaN())));
  for (float u : {-20.0f, -1.0f, -1e-3f, 0.0f, 1e-3f, 0.5f, 3.0f, 20.0f})
    EXPECT_NEAR(tanh_approx(u), std::tanh(double(u)), 2e-7) << u;
}

// Every kernel variant this CPU can run (core/kernels/dispatch.h: avx512, avx2, baseline in the
// portable build), each against the double reference, whichever one the process dispatches to.
class FastFloat : public ::testing::TestWithParam<std::string> {
 protected:
  const LayerKernels<float>& kernels() const { return *kernels_named(GetParam()).layers_float; }
};

TEST_P(FastFloat, CrossEntropyEqualsDoubleReference) {
  const LayerKernels<float>& K = kernels();
  // V spans several summation blocks and a partial one; one row unlabelled; z-loss on.
  const int64_t N = 5, V = 2500;
  const std::vector<int32_t> labels = {7, -1, 2499, 0, 1024};
  const std::vector<float> logits = to_float(random_vec(N * V, 60, 4.0));
  const Vec logits_d = as_double(logits);
  std::vector<float> g(logits.size());
  Vec g_ref(logits.size());
  double ce = 0, z = 0, ce_ref = 0, z_ref = 0;
  K.cross_entropy_forward_backward(g.data(), &ce, &z, logits.data(), labels.data(), N, V, 1e-2, 0.25);
  cross_entropy_forward_backward(g_ref.data(), &ce_ref, &z_ref, logits_d.data(), labels.data(), N, V, 1e-2, 0.25);
  EXPECT_NEAR(ce, ce_ref, 1e-6 * std::abs(ce_ref));
  EXPECT_NEAR(z, z_ref, 1e-6 * std::abs(z_ref));
  EXPECT_LT(max_error(g, g_ref), 1e-6);
  // In place (dlogits aliasing logits), as the model's output head calls it.
  std::vector<float> inplace = logits;
  double ce2 = 0, z2 = 0;
  K.cross_entropy_forward_backward(inplace.data(), &ce2, &z2, inplace.data(), labels.data(), N, V, 1e-2, 0.25);
  EXPECT_EQ(inplace, g);
  EXPECT_EQ(ce2, ce);
}

TEST_P(FastFloat, RmsNormEqualsDoubleReference) {
  const LayerKernels<float>& K = kernels();
  const int64_t N = 7, d = 200;  // d spans several column blocks and a partial one
  const std::vector<float> x = to_float(random_vec(N * d, 61)), w = to_float(random_vec(d, 62)),
                           dout = to_float(random_vec(N * d, 63));
  const Vec xd = as_double(x), wd = as_double(w), doutd = as_double(dout);
  std::vector<float> y(x.size()), rstd(N), dx(x.size(), 0.5f), dw(d, 0.25f);
  Vec yd(x.size()), rstdd(N), dxd(x.size(), 0.5), dwd(d, 0.25);
  K.rmsnorm_forward(y.data(), rstd.data(), x.data(), w.data(), N, d, 1e-6);
  rmsnorm_forward(yd.data(), rstdd.data(), xd.data(), wd.data(), N, d, 1e-6);
  EXPECT_LT(max_error(y, yd), 1e-6);
  K.rmsnorm_backward(dx.data(), dw.data(), dout.data(), x.data(), w.data(), rstd.data(), N, d);
  rmsnorm_backward(dxd.data(), dwd.data(), doutd.data(), xd.data(), wd.data(), rstdd.data(), N, d);
  EXPECT_LT(max_error(dx, dxd), 1e-6);
  EXPECT_LT(max_error(dw, dwd), 1e-6);
}

TEST_P(FastFloat, EmbeddingBackwardEqualsDoubleReference) {
  const LayerKernels<float>& K = kernels();
  const int64_t N = 9, dm = 150, V = 4;
  const std::vector<int32_t> ids = {3, 1, 3, 0, 3, 2, 1, 1, 3};  // repeated ids accumulate
  const std::vector<float> dout = to_float(random_vec(N * dm, 64));
  const Vec doutd = as_double(dout);
  std::vector<float> dtable(V * dm, 1.0f);
  Vec dtabled(V * dm, 1.0);
  K.embedding_backward(dtable.data(), dout.data(), ids.data(), N, dm);
  embedding_backward(dtabled.data(), doutd.data(), ids.data(), N, dm);
  EXPECT_LT(max_error(dtable, dtabled), 1e-6);
}

TEST_P(FastFloat, GatedGeluEqualsDoubleReference) {
  const LayerKernels<float>& K = kernels();
  const int64_t n = 4099;
  const std::vector<float> a = to_float(random_vec(n, 65, 3.0)), b = to_float(random_vec(n, 66)),
                           dh = to_float(random_vec(n, 67));
  const Vec ad = as_double(a), bd = as_double(b), dhd = as_double(dh);
  std::vector<float> h(n), da(n, 0.0f), db(n, 0.0f);
  Vec hd(n), dad(n, 0.0), dbd(n, 0.0);
  K.gated_gelu_forward(h.data(), a.data(), b.data(), n);
  gated_gelu_forward(hd.data(), ad.data(), bd.data(), n);
  EXPECT_LT(max_error(h, hd), 1e-6);
  K.gated_gelu_backward(da.data(), db.data(), dh.data(), a.data(), b.data(), n, Write::add);
  gated_gelu_backward(dad.data(), dbd.data(), dhd.data(), ad.data(), bd.data(), n);
  EXPECT_LT(max_error(da, dad), 1e-6);
  EXPECT_LT(max_error(db, dbd), 1e-6);
}

TEST_P(FastFloat, AttentionEqualsDoubleReference) {
  const LayerKernels<float>& K = kernels();
  // Bias, padding, packed segments and causal masking; the softmax runs on the vectorised exp.
  for (const bool causal : {false, true}) {
    const AttentionDims d{2, 3, 20, 20, 8};
    const int64_t S = d.Lq * d.Lk, qn = d.heads() * d.Lq * d.kv;
    std::vector<int32_t> seg(size_t(d.B * d.Lq), 1);
    for (int64_t j = 12; j < 18; ++j) seg[size_t(j)] = 2;    // row 0: two packed segments, padding
    seg[18] = seg[19] = 0;
    for (int64_t j = 0; j < 5; ++j) seg[size_t(d.Lq + j)] = 0;  // row 1: leading padding
    const std::vector<float> q = to_float(random_vec(qn, 70)), k = to_float(random_vec(qn, 71)),
                             v = to_float(random_vec(qn, 72)), bias = to_float(random_vec(d.nh * S, 73)),
                             dctx = to_float(random_vec(qn, 74));
    const Vec qd = as_double(q), kd = as_double(k), vd = as_double(v), biasd = as_double(bias),
              dctxd = as_double(dctx);
    std::vector<float> ctx(qn), probs(d.heads() * S), scratch(probs.size()), dq(qn), dk(qn), dv(qn),
        dbias(bias.size(), 0.0f);
    Vec ctxd(qn), probsd(probs.size()), scratchd(probs.size()), dqd(qn), dkd(qn), dvd(qn), dbiasd(bias.size(), 0.0);
    K.attention_forward(ctx.data(), probs.data(), scratch.data(), q.data(), k.data(), v.data(), bias.data(),
                      seg.data(), seg.data(), causal, d, Dropout{});
    attention_forward(ctxd.data(), probsd.data(), scratchd.data(), qd.data(), kd.data(), vd.data(), biasd.data(),
                      seg.data(), seg.data(), causal, d, Dropout{});
    EXPECT_LT(max_error(probs, probsd), 1e-6) << causal;
    EXPECT_LT(max_error(ctx, ctxd), 1e-6) << causal;
    K.attention_backward(dq.data(), dk.data(), dv.data(), dbias.data(), scratch.data(), dctx.data(), q.data(),
                       k.data(), v.data(), probs.data(), d, Dropout{});
    attention_backward(dqd.data(), dkd.data(), dvd.data(), dbiasd.data(), scratchd.data(), dctxd.data(), qd.data(),
                       kd.data(), vd.data(), probsd.data(), d, Dropout{});
    EXPECT_LT(max_error(dq, dqd), 1e-5) << causal;
    EXPECT_LT(max_error(dk, dkd), 1e-5) << causal;
    EXPECT_LT(max_error(dv, dvd), 1e-5) << causal;
    EXPECT_LT(max_error(dbias, dbiasd), 1e-5) << causal;
  }
}

INSTANTIATE_TEST_SUITE_P(EveryKernelVariant, FastFloat, ::testing::ValuesIn(runnable_kernel_variants()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// Write::overwrite stores the gradient instead of adding: equal bit for bit to adding into zeros, and
// whatever the buffer held before (NaN here) is gone. float, the model's type, through the GEMM backend;
// the ReLU case also runs in place (da aliasing dh), as the model's feed-forward backward does.
TEST(LayersWrite, OverwriteEqualsAddIntoZeros) {
  const int64_t N = 37, in = 24, out = 40, n = N * out;
  auto fvec = [](int64_t size, uint64_t seed) {
    const Vec d = random_vec(size, seed);
    return std::vector<float>(d.begin(), d.end());
  };
  const std::vector<float> x = fvec(N * in, 21), W = fvec(out * in, 22), dy = fvec(n, 23), a = fvec(n, 24),
                           b = fvec(n, 25);
  const float nan = std::numeric_limits<float>::quiet_NaN();

  std::vector<float> dx_add(N * in, 0.0f), dx_over(N * in, nan), dW1(out * in, 0.0f), dW2(out * in, 0.0f);
  linear_backward(dx_add.data(), dW1.data(), dy.data(), x.data(), W.data(), N, in, out);
  linear_backward(dx_over.data(), dW2.data(), dy.data(), x.data(), W.data(), N, in, out, Write::overwrite);
  EXPECT_EQ(dx_add, dx_over);
  EXPECT_EQ(dW1, dW2);  // the weight gradient still accumulates

  std::vector<float> da_add(n, 0.0f), in_place = dy;
  relu_backward(da_add.data(), dy.data(), a.data(), n);
  relu_backward(in_place.data(), in_place.data(), a.data(), n, Write::overwrite);
  EXPECT_EQ(da_add, in_place);

  std::vector<float> ga(n, 0.0f), gb(n, 0.0f), oa(n, nan), ob(n, nan);
  gated_gelu_backward(ga.data(), gb.data(), dy.data(), a.data(), b.data(), n);
  gated_gelu_backward(oa.data(), ob.data(), dy.data(), a.data(), b.data(), n, Write::overwrite);
  EXPECT_EQ(ga, oa);
  EXPECT_EQ(gb, ob);
}

}  // namespace
}  // namespace t5
