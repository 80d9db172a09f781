// The whole model against the PyTorch reference (tests/reference/t5_reference.py, float64 from the
// same float32 weights): loss within 1e-5 relative, every gradient within 1e-4 norm-wise, logits,
// z-loss, packed segments; plus packing vs separate rows, fully masked rows, accumulation, dropout
// seeding and every fast GEMM backend against the naive one.
#include <algorithm>
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

constexpr double kLossTol = 1e-5;
constexpr double kGradTol = 1e-4;

// Worst per-tensor norm-wise relative gradient error vs the fixture's "<prefix><HF name>" tensors.
double worst_grad_error(const Model& m, const ModelFixture& f, const std::string& prefix, std::string* worst_name) {
  const std::vector<float> ref = f.buffer(prefix, m.table());
  double worst = 0;
  for (const auto& p : m.table().params()) {
    const double e = relative_error(m.grads() + p.offset, ref.data() + p.offset, p.numel);
    EXPECT_LT(e, kGradTol) << f.name << " " << prefix << p.name;
    if (e > worst) worst = e, *worst_name = p.name;
  }
  return worst;
}

class Parity : public ::testing::TestWithParam<std::string> {};

// Loss, z-loss and every gradient of one forward_backward against the fixture; `prefix` names the
// reference gradients ("grad/" of the loss, "grad_z/" of loss + z-loss).
void check_parity(const ModelFixture& f, double z_coef, const std::string& prefix) {
  Model m(f.shape);
  f.load_params(m);
  ForwardOptions opt;
  opt.z_loss = z_coef;
  const LossResult r = m.forward_backward(f.batch, opt);
  const double ref_loss = f.meta["loss"].get<double>(), ref_z = z_coef > 0 ? f.meta["z_loss"].get<double>() : 0.0;
  EXPECT_EQ(r.label_tokens, f.meta["label_tokens"].get<int64_t>());
  const double loss_err = std::abs(r.loss - ref_loss) / ref_loss;  // loss excludes the z-loss term
  EXPECT_LT(loss_err, kLossTol) << r.loss << " vs " << ref_loss;
  EXPECT_NEAR(r.sum_cross_entropy, ref_loss * double(r.label_tokens), 1e-4);
  const double z_err = z_coef > 0 ? std::abs(r.z_loss - ref_z) / ref_z : std::abs(r.z_loss);
  EXPECT_LT(z_err, kLossTol) << r.z_loss << " vs " << ref_z;
  std::string worst_name;
  const double worst = worst_grad_error(m, f, prefix, &worst_name);
  std::printf("[parity] %s z %g: loss rel err %.3g, z-loss rel err %.3g, worst grad rel err %.3g (%s)\n",
              f.name.c_str(), z_coef, loss_err, z_err, worst, worst_name.c_str());
}

// The fixture's tensors are exactly the table's: a tied structure is an absent tensor on both sides
// (skv: no k or v, one kv; sh: attention projections in block 0 only), in the same order.
TEST_P(Parity, FixtureHoldsExactlyTheTablesTensors) {
  const ModelFixture f = load_model_fixture(GetParam());
  const ParamTable table(f.shape);
  std::vector<std::string> fixture_names, table_names;
  for (const auto& [key, value] : f.meta["tensors"].items())
    if (key.rfind("param/", 0) == 0) fixture_names.push_back(key.substr(6));
  for (const auto& p : table.params()) table_names.push_back(p.name);
  std::sort(fixture_names.begin(), fixture_names.end());
  std::sort(table_names.begin(), table_names.end());
  EXPECT_EQ(fixture_names, table_names);
  const nlohmann::json& c = f.meta["config"];
  EXPECT_EQ(f.shape.shared_kv, c.value("shared_kv", false));
  EXPECT_EQ(f.shape.shared_heads, c.value("shared_heads", false));
  int64_t kv = 0, k = 0, q = 0;
  for (const auto& p : table.params()) kv += p.role == Role::kv, k += p.role == Role::k, q += p.role == Role::q;
  const int64_t attentions = f.shape.shared_heads ? 3 : f.shape.el + 2 * f.shape.dl;
  EXPECT_EQ(q, attentions);
  EXPECT_EQ(kv, f.shape.shared_kv ? attentions : 0);
  EXPECT_EQ(k, f.shape.shared_kv ? 0 : attentions);
}

// A sharing shape computes what the shape without the flags computes when its tied tensors are copies,
// and each tied tensor's gradient is the sum over its uses (an independent check of the reference's
// semantics: this one needs no PyTorch). For fixtures without flags it is the identity.
TEST_P(Parity, SharingEqualsTheUntiedShapeWithCopies) {
  const ModelFixture f = load_model_fixture(GetParam());
  Model shared(f.shape);
  f.load_params(shared);
  Model plain(testing::without_sharing(f.shape));
  testing::untie_params(shared, plain);
  const LossResult a = shared.forward_backward(f.batch), b = plain.forward_backward(f.batch);
  EXPECT_LT(std::abs(a.loss - b.loss) / b.loss, 1e-6) << a.loss << " vs " << b.loss;
  const std::vector<float> tied = testing::tie_gradients(plain, shared.table());
  for (const auto& p : shared.table().params())
    EXPECT_LT(relative_error(shared.grads() + p.offset, tied.data() + p.offset, p.numel), 1e-5) << p.name;
  const std::vector<float> la = shared.logits(f.batch), lb = plain.logits(f.batch);
  EXPECT_LT(relative_error(la.data(), lb.data(), int64_t(lb.size())), 1e-6);
  EXPECT_EQ(plain.num_params() > shared.num_params(), f.shape.shared_kv || f.shape.shared_heads);
}

TEST_P(Parity, LossAndEveryGradientMatchPyTorch) { check_parity(load_model_fixture(GetParam()), 0.0, "grad/"); }

TEST_P(Parity, ZLossValueAndGradient) {
  const ModelFixture f = load_model_fixture(GetParam());
  check_parity(f, f.meta["z_loss_coef"].get<double>(), "grad_z/");
}

TEST_P(Parity, LogitsMatchAndEvaluateAddsNoGradient) {
  const ModelFixture f = load_model_fixture(GetParam());
  Model m(f.shape);
  f.load_params(m);
  std::vector<int64_t> shape;
  const std::vector<float> ref = f.tensor("logits", &shape);
  ASSERT_EQ(shape, (std::vector<int64_t>{f.batch.batch, f.batch.targets_length, f.shape.vocab_size}));
  const std::vector<float> logits = m.logits(f.batch);
  ASSERT_EQ(logits.size(), ref.size());
  const double e = relative_error(logits.data(), ref.data(), int64_t(ref.size()));
  EXPECT_LT(e, 1e-5);
  std::printf("[parity] %s logits rel err %.3g\n", f.name.c_str(), e);
  const LossResult r = m.evaluate(f.batch);
  EXPECT_LT(std::abs(r.loss - f.meta["loss"].get<double>()) / r.loss, kLossTol);
  for (int64_t i = 0; i < m.num_params(); ++i) ASSERT_EQ(m.grads()[i], 0.0f);
}

// Every fast GEMM backend gives the naive oracle's loss and gradients on the whole model.
TEST_P(Parity, EveryFastGemmBackendEqualsNaive) {
  const ModelFixture f = load_model_fixture(GetParam());
  Model m(f.shape);
  f.load_params(m);
  const GemmBackend before = gemm_backend();
  set_gemm_backend(GemmBackend::naive);
  const LossResult naive = m.forward_backward(f.batch);
  const std::vector<float> naive_grads(m.grads(), m.grads() + m.num_params());
  for (const GemmBackend fast : {GemmBackend::openblas, GemmBackend::onednn}) {
    m.zero_grads();
    set_gemm_backend(fast);
    const LossResult r = m.forward_backward(f.batch);
    const char* name = to_string(fast);
    EXPECT_LT(std::abs(naive.loss - r.loss) / naive.loss, 1e-6) << name;
    double worst = 0;
    for (const auto& p : m.table().params()) {
      const double e = relative_error(m.grads() + p.offset, naive_grads.data() + p.offset, p.numel);
      EXPECT_LT(e, 1e-5) << name << " " << p.name;
      worst = std::max(worst, e);
    }
    std::printf("[backend] %s %s vs naive: loss rel %.3g, worst grad rel %.3g\n", f.name.c_str(), name,
                std::abs(naive.loss - r.loss) / naive.loss, worst);
  }
  set_gemm_backend(before);
}

// Packed rows (segment ids 1, 2, 3 and padding 0; decoder inputs restarting at 0 per segment)
// against the reference's segment masks: loss and every gradient.
TEST_P(Parity, PackedSegmentsMatchPyTorch) {
  const ModelFixture f = load_model_fixture(GetParam());
  const nlohmann::json& pb = f.meta["packed_batch"];
  Batch b;
  const auto rows = [&](const char* key) {
    std::vector<int32_t> out;
    for (const auto& row : pb[key]) for (const auto& v : row) out.push_back(v.get<int32_t>());
    return out;
  };
  b.batch = int64_t(pb["input_ids"].size());
  b.inputs_length = int64_t(pb["input_ids"][0].size());
  b.targets_length = int64_t(pb["labels"][0].size());
  b.input_ids = rows("input_ids");
  b.encoder_segment_ids = rows("encoder_segment_ids");
  b.decoder_input_ids = rows("decoder_input_ids");
  b.decoder_segment_ids = rows("decoder_segment_ids");
  b.labels = rows("labels");
  Model m(f.shape);
  f.load_params(m);
  const LossResult r = m.forward_backward(b);
  const double ref = f.meta["packed_loss"].get<double>();
  EXPECT_EQ(r.label_tokens, f.meta["packed_label_tokens"].get<int64_t>());
  EXPECT_LT(std::abs(r.loss - ref) / ref, kLossTol) << r.loss << " vs " << ref;
  std::string worst_name;
  const double worst = worst_grad_error(m, f, "packed_grad/", &worst_name);
  std::printf("[parity] %s packed: loss rel err %.3g, worst grad rel err %.3g (%s)\n", f.name.c_str(),
              std::abs(r.loss - ref) / ref, worst, worst_name.c_str());
}

TEST_P(Parity, GradientsAccumulateWithScale) {
  const ModelFixture f = load_model_fixture(GetParam());
  Model m(f.shape);
  f.load_params(m);
  m.forward_backward(f.batch, {}, 0.25f);
  m.forward_backward(f.batch, {}, 0.75f);
  std::string worst_name;
  worst_grad_error(m, f, "grad/", &worst_name);  // 0.25 g + 0.75 g = g
}

// The output head runs in row chunks (one chunk for a small batch): chunks of 1, 2 and 5 rows give the
// loss and every gradient of the single-chunk pass up to summation order (dW adds chunk by chunk).
TEST_P(Parity, HeadChunksDoNotChangeLossOrGradients) {
  const ModelFixture f = load_model_fixture(GetParam());
  Model whole(f.shape);
  f.load_params(whole);
  const LossResult ref = whole.forward_backward(f.batch, ForwardOptions{});
  for (const int64_t rows : {1, 2, 5}) {
    Model m(f.shape);
    f.load_params(m);
    ForwardOptions opt;
    opt.head_chunk_rows = rows;
    const LossResult r = m.forward_backward(f.batch, opt);
    EXPECT_NEAR(r.loss, ref.loss, 1e-6 * ref.loss) << rows << " rows";
    double diff = 0, norm = 0;
    for (int64_t i = 0; i < m.num_params(); ++i) {
      diff += std::pow(double(m.grads()[i]) - double(whole.grads()[i]), 2);
      norm += std::pow(double(whole.grads()[i]), 2);
    }
    EXPECT_LT(std::sqrt(diff / norm), 1e-5) << rows << " rows";
  }
  ForwardOptions bad;
  bad.head_chunk_rows = -1;
  EXPECT_THROW(whole.forward_backward(f.batch, bad), Error);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Parity, ::testing::Values("relu_tied", "gated_untied", "skv", "sh", "sh_skv"));

// Two examples packed into one row (segments 1 and 2) give the same loss and gradients as the
// two examples in separate rows: attention never crosses segments, relative positions are unchanged.
TEST(Packing, PackedRowEqualsSeparateRows) {
  const ModelFixture f = load_model_fixture("relu_tied");
  Model m(f.shape);
  f.load_params(m);
  Batch packed;
  packed.batch = 1, packed.inputs_length = 8, packed.targets_length = 7;
  packed.input_ids = {11, 12, 13, 1, 21, 22, 1, 0};
  packed.encoder_segment_ids = {1, 1, 1, 1, 2, 2, 2, 0};
  packed.decoder_input_ids = {0, 31, 32, 0, 41, 42, 0};
  packed.decoder_segment_ids = {1, 1, 1, 2, 2, 2, 0};
  packed.labels = {31, 32, 1, 41, 42, 1, kIgnoreLabel};
  Batch separate;
  separate.batch = 2, separate.inputs_length = 4, separate.targets_length = 3;
  separate.input_ids = {11, 12, 13, 1, 21, 22, 1, 0};
  separate.encoder_segment_ids = {1, 1, 1, 1, 1, 1, 1, 0};
  separate.decoder_input_ids = {0, 31, 32, 0, 41, 42};
  separate.decoder_segment_ids = {1, 1, 1, 1, 1, 1};
  separate.labels = {31, 32, 1, 41, 42, 1};
  const LossResult a = m.forward_backward(packed);
  const std::vector<float> ga(m.grads(), m.grads() + m.num_params());
  m.zero_grads();
  const LossResult b = m.forward_backward(separate);
  EXPECT_EQ(a.label_tokens, 6);
  EXPECT_EQ(b.label_tokens, 6);
  EXPECT_LT(std::abs(a.loss - b.loss) / b.loss, 1e-6) << a.loss << " vs " << b.loss;
  for (const auto& p : m.table().params())
    EXPECT_LT(relative_error(ga.data() + p.offset, m.grads() + p.offset, p.numel), 1e-5) << p.name;
  // The packed logits of segment 2 equal the second separate row's.
  const std::vector<float> lp = m.logits(packed), ls = m.logits(separate);
  const int64_t V = f.shape.vocab_size;
  EXPECT_LT(relative_error(lp.data() + 3 * V, ls.data() + 3 * V, 3 * V), 1e-5);
}

TEST(Masking, RowsWithoutVisibleKeysStayFinite) {
  const ModelFixture f = load_model_fixture("gated_untied");
  Model m(f.shape);
  f.load_params(m);
  Batch b;
  b.batch = 2, b.inputs_length = 3, b.targets_length = 4;
  b.input_ids = {5, 6, 1, 0, 0, 0};
  b.encoder_segment_ids = {1, 1, 1, 0, 0, 0};  // row 1: all padding
  b.decoder_input_ids = {0, 7, 0, 9, 0, 8, 9, 0};
  // row 0: segment 2 has no encoder counterpart (cross-attention sees no key); row 1: segment 1 likewise.
  b.decoder_segment_ids = {1, 1, 2, 2, 1, 1, 1, 0};
  b.labels = {7, 1, 9, 1, 8, 9, 1, kIgnoreLabel};
  const LossResult r = m.forward_backward(b);
  EXPECT_TRUE(std::isfinite(r.loss));
  EXPECT_EQ(r.label_tokens, 7);
  for (int64_t i = 0; i < m.num_params(); ++i) ASSERT_TRUE(std::isfinite(m.grads()[i])) << i;
  for (float x : m.logits(b)) ASSERT_TRUE(std::isfinite(x));
}

TEST(Masking, BatchWithoutLabelsAddsNothing) {
  const ModelFixture f = load_model_fixture("relu_tied");
  Model m(f.shape);
  f.load_params(m);
  Batch b = f.batch;
  std::fill(b.labels.begin(), b.labels.end(), kIgnoreLabel);
  const LossResult r = m.forward_backward(b);
  EXPECT_EQ(r.label_tokens, 0);
  EXPECT_EQ(r.loss, 0.0);
  for (int64_t i = 0; i < m.num_params(); ++i) ASSERT_EQ(m.grads()[i], 0.0f);
}

TEST(Dropout, SeededAndOffByDefault) {
  const ModelFixture f = load_model_fixture("gated_untied");
  Model m(f.shape);
  f.load_params(m);
  ForwardOptions opt;
  opt.dropout = 0.1;
  opt.seed = 3;
  const double a = m.evaluate(f.batch, opt).loss, b = m.evaluate(f.batch, opt).loss;
  opt.seed = 4;
  const double c = m.evaluate(f.batch, opt).loss;
  const double off = m.evaluate(f.batch).loss;
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, off);
  EXPECT_LT(std::abs(off - f.meta["loss"].get<double>()) / off, kLossTol);
  // forward_backward with dropout is as reproducible as evaluate.
  opt.seed = 3;
  const LossResult fb = m.forward_backward(f.batch, opt);
  EXPECT_EQ(fb.loss, a);
}

// With dropout on, the gradient is the derivative of the loss under the same masks: the backward pass
// recomputes the forward's masks at every site (embedding, sublayer outputs, attention
// probabilities, FF hidden). Checked along the gradient direction d = g/|g|, where the directional
// derivative is |g|, by central differences of evaluate() with the same seed (gated-GELU: smooth).
// Without dropout the same check holds, and the two gradients differ: dropout reaches the backward.
TEST(Dropout, GradientIsTheDerivativeUnderTheSameMasks) {
  const ModelFixture f = load_model_fixture("gated_untied");
  Model m(f.shape);
  f.load_params(m);
  const std::vector<float> params(m.params(), m.params() + m.num_params());
  std::vector<float> no_dropout_grads;
  for (const double rate : {0.0, 0.2}) {
    SCOPED_TRACE(rate);
    ForwardOptions opt;
    opt.dropout = rate;
    opt.seed = 11;
    m.zero_grads();
    m.forward_backward(f.batch, opt);
    const std::vector<float> g(m.grads(), m.grads() + m.num_params());
    double norm = 0;
    for (float x : g) norm += double(x) * double(x);
    norm = std::sqrt(norm);
    const double h = 1e-3;
    auto loss_at = [&](double t) {
      for (int64_t i = 0; i < m.num_params(); ++i) m.params()[i] = float(params[size_t(i)] + t * g[size_t(i)] / norm);
      return m.evaluate(f.batch, opt).loss;
    };
    const double numeric = (loss_at(h) - loss_at(-h)) / (2 * h);
    std::copy(params.begin(), params.end(), m.params());
    EXPECT_NEAR(numeric, norm, 2e-3 * norm) << "directional derivative vs |g|";  // measured: 1.4e-4
    std::printf("[dropout %.1f] |g| %.6f, central difference %.6f\n", rate, norm, numeric);
    if (rate == 0.0) {
      no_dropout_grads = g;
    } else {
      EXPECT_GT(relative_error(g.data(), no_dropout_grads.data(), m.num_params()), 1e-2);
    }
  }
}

TEST(Model, RejectsBadBatches) {
  const ModelFixture f = load_model_fixture("relu_tied");
  Model m(f.shape);
  Batch b = f.batch;
  b.input_ids[3] = int32_t(f.shape.vocab_size);
  EXPECT_THROW(m.evaluate(b), Error);
  b = f.batch;
  b.labels.pop_back();
  EXPECT_THROW(m.evaluate(b), Error);
}

}  // namespace
}  // namespace t5
