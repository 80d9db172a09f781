// bf16 mixed precision of the whole model (core/mixed_precision.h, issue 6) against the PyTorch
// float64 reference of the parity fixtures (tests/reference/t5_reference.py): the loss within 1e-2
// relative and every gradient tensor within kGradBound norm-wise. bf16 keeps 8 significant bits
// (relative rounding 2^-9 ≈ 2e-3 per operand), so errors of a few 1e-3 are expected and the test also
// checks that they are there (a pass that silently ran f32 would sit at 1e-6).
#include <cmath>

#include <gtest/gtest.h>

#include "core/gemm.h"
#include "core/model.h"
#include "tests/model_fixture.h"

namespace t5 {
namespace {

using testing::load_model_fixture;
using testing::ModelFixture;
using testing::relative_error;

constexpr double kLossBound = 1e-3;
// The whole gradient vector, norm-wise: 0.038-0.050 for the fixtures, 0.076 for skv, whose untied
// equivalent (k and v copies of its kv, an ordinary T5) shows the same 0.075 (SharingAddsNoError... below).
constexpr double kGlobalGradBound = 8e-2;
constexpr double kGradBound = 0.15;        // each tensor, norm-wise
constexpr double kOracleBound = 1e-2;     // fast bf16 pass vs the naive oracle on bf16-rounded operands
constexpr double kNotF32 = 1e-4;  // bf16 rounding must show at least this much somewhere
// Native vs emulated bf16 pass: same bf16 products, another summation order (3e-7 of the gradient seen).
constexpr double kPathBound = 1e-5;

class Bf16Parity : public ::testing::TestWithParam<std::string> {};

// A bf16 pass with the fixture's z-loss.
ForwardOptions bf16_options(const ModelFixture& f) {
  ForwardOptions opt;
  opt.precision = Precision::bf16;
  opt.z_loss = f.meta["z_loss_coef"].get<double>();
  return opt;
}

// Two models holding the fixture's parameters (a pass and the one it is compared with).
struct TwoModels {
  Model a, b;
  explicit TwoModels(const ModelFixture& f) : a(f.shape), b(f.shape) {
    f.load_params(a);
    f.load_params(b);
  }
};

TEST_P(Bf16Parity, LossAndGradientsCloseToReference) {
  const ModelFixture f = load_model_fixture(GetParam());
  const double z_coef = f.meta["z_loss_coef"].get<double>();
  Model m(f.shape);
  f.load_params(m);
  ForwardOptions opt;
  opt.precision = Precision::bf16;
  opt.z_loss = z_coef;
  const LossResult r = m.forward_backward(f.batch, opt);
  const double ref_loss = f.meta["loss"].get<double>(), ref_z = f.meta["z_loss"].get<double>();
  const double loss_err = std::abs(r.loss - ref_loss) / ref_loss;
  EXPECT_LT(loss_err, kLossBound) << r.loss << " vs " << ref_loss;
  EXPECT_LT(std::abs(r.z_loss - ref_z) / ref_z, kLossBound) << r.z_loss << " vs " << ref_z;
  const std::vector<float> ref = f.buffer("grad_z/", m.table());
  double worst = 0;
  std::string worst_name;
  for (const auto& p : m.table().params()) {
    const double e = relative_error(m.grads() + p.offset, ref.data() + p.offset, p.numel);
    EXPECT_LT(e, kGradBound) << f.name << " " << p.name;
    if (e > worst) worst = e, worst_name = p.name;
  }
  const double global = relative_error(m.grads(), ref.data(), m.num_params());
  EXPECT_LT(global, kGlobalGradBound);
  EXPECT_GT(worst, kNotF32) << "bf16 gradients as exact as f32: is bf16 on?";
  std::printf("[bf16] %s: loss rel err %.3g, whole gradient rel err %.3g, worst tensor %.3g (%s)\n", f.name.c_str(),
              loss_err, global, worst, worst_name.c_str());

  // evaluate() in bf16 computes the same forward (same mirror, same products) and adds no gradient.
  const std::vector<float> grads_before(m.grads(), m.grads() + m.num_params());
  const LossResult e = m.evaluate(f.batch, opt);
  EXPECT_EQ(e.loss, r.loss);
  EXPECT_TRUE(std::equal(grads_before.begin(), grads_before.end(), m.grads()));
  // And an fp32 pass right after is f32 again: the scope ended with the pass.
  const LossResult f32 = m.evaluate(f.batch);
  EXPECT_LT(std::abs(f32.loss - ref_loss) / ref_loss, 1e-5);
}

// The sharing fixtures' bf16 error is the untied shape's: the same weights copied into the shape without
// sh/skv (an ordinary T5) give the same distance to the reference (measured: skv 0.0754 untied vs 0.0756
// shared, sh 0.0498 vs 0.0498, sh_skv 0.0270 vs 0.0267), and the two bf16 passes differ by bf16 rounding
// only (skv sums dk + dv in f32 before one bf16 product; untied rounds each: 0.6% apart).
TEST_P(Bf16Parity, SharingAddsNoErrorToTheUntiedShape) {
  const ModelFixture f = load_model_fixture(GetParam());
  Model shared(f.shape);
  f.load_params(shared);
  Model plain(testing::without_sharing(f.shape));
  testing::untie_params(shared, plain);
  const ForwardOptions opt = bf16_options(f);
  plain.forward_backward(f.batch, opt);
  shared.forward_backward(f.batch, opt);
  const std::vector<float> tied = testing::tie_gradients(plain, shared.table());
  const std::vector<float> ref = f.buffer("grad_z/", shared.table());
  const int64_t n = shared.num_params();
  const double untied_err = relative_error(tied.data(), ref.data(), n);
  const double shared_err = relative_error(shared.grads(), ref.data(), n);
  const double apart = relative_error(shared.grads(), tied.data(), n);
  EXPECT_LT(shared_err, untied_err + 0.005);
  EXPECT_LT(apart, 0.02);
  std::printf("[bf16] %s: untied copies vs reference %.4g, shared vs reference %.4g, shared vs untied %.3g\n",
              f.name.c_str(), untied_err, shared_err, apart);
}

// The fast bf16 pass against its oracle: the same pass with the naive backend, which rounds every
// product's operands to bf16 and accumulates exactly (core/mixed_precision.h). Only accumulation order
// differs, so this is far tighter than the distance to the f32 reference above: it pins the bf16 error
// on bf16 rounding, not on a wrong operand, stride or mirror offset.
TEST_P(Bf16Parity, EqualsNaiveOracleOnRoundedOperands) {
  const ModelFixture f = load_model_fixture(GetParam());
  const ForwardOptions opt = bf16_options(f);
  TwoModels models(f);
  Model& fast = models.a;
  Model& oracle = models.b;
  const LossResult r = fast.forward_backward(f.batch, opt);
  set_gemm_backend(GemmBackend::naive);
  const LossResult o = oracle.forward_backward(f.batch, opt);
  set_gemm_backend(GemmBackend::onednn);
  EXPECT_LT(std::abs(r.loss - o.loss) / o.loss, kOracleBound) << r.loss << " vs " << o.loss;
  const double global = relative_error(fast.grads(), oracle.grads(), fast.num_params());
  EXPECT_LT(global, kOracleBound);
  const std::vector<float> ref = f.buffer("grad_z/", fast.table());
  std::printf("[bf16] %s: fast vs oracle: loss %.3g, gradient %.3g; oracle vs f32 reference: gradient %.3g\n",
              f.name.c_str(), std::abs(r.loss - o.loss) / o.loss, global,
              relative_error(oracle.grads(), ref.data(), oracle.num_params()));
}

// Native and emulated bf16 passes (core/gemm.h, issue 13) multiply the same bf16 values and differ only
// in summation order: the whole pass agrees far more tightly than either does with the f32 reference.
// (tests/CMakeLists.txt also runs this file with T5SCALE_BF16_EMULATE=1, so the tests above check the
// emulated path against the reference and the oracle on every CPU.)
TEST_P(Bf16Parity, NativeAndEmulatedPassesAgree) {
  if (!bf16_matmul_native())
    GTEST_SKIP() << "no native bf16 matmul here (no AVX512-BF16/AMX, ONEDNN_MAX_CPU_ISA, or T5SCALE_BF16_EMULATE)";
  const ModelFixture f = load_model_fixture(GetParam());
  const ForwardOptions opt = bf16_options(f);
  TwoModels models(f);
  Model& native = models.a;
  Model& emulated = models.b;
  const LossResult n = native.forward_backward(f.batch, opt);
  force_bf16_emulation(true);
  const LossResult e = emulated.forward_backward(f.batch, opt);
  force_bf16_emulation(false);
  EXPECT_LT(std::abs(n.loss - e.loss) / n.loss, kPathBound) << n.loss << " vs " << e.loss;
  const double global = relative_error(native.grads(), emulated.grads(), native.num_params());
  EXPECT_LT(global, kPathBound);
  std::printf("[bf16] %s: native vs emulated: loss %.3g, gradient %.3g\n", f.name.c_str(),
              std::abs(n.loss - e.loss) / n.loss, global);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Bf16Parity, ::testing::Values("relu_tied", "gated_untied", "skv", "sh", "sh_skv"));

}  // namespace
}  // namespace t5
