// Initialisation statistics against SPEC.md §4 (std per role written out here from the SPEC
// formulas, not taken from the ParamTable), determinism across seeds and thread counts, and the
// `t5scale init` command.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "core/checkpoint.h"
#include "core/counts.h"
#include "core/init.h"
#include "core/names.h"
#include "core/param_table.h"
#include "core/safetensors.h"
#include "tests/cli_runner.h"

namespace t5 {
namespace {

Shape small_shape(bool gated) {
  Shape s;
  s.el = 2;
  s.dl = 3;
  s.dm = 64;
  s.ff = 96;
  s.kv = 16;
  s.nh = 8;   // inner 128 != dm
  s.feed_forward = gated ? FeedForward::gated_gelu : FeedForward::relu;
  s.tied = !gated;
  return s;
}

// SPEC.md §4: shared N(0,1); q N(0,(dm·kv)^-½); k,v N(0,dm^-½); o N(0,inner^-½); wi N(0,dm^-½);
// wo N(0,ff^-½); relative bias N(0,dm^-½); untied lm_head N(0,dm^-½); skv's kv like k and v.
double spec_std(Role role, const Shape& s) {
  switch (role) {
    case Role::shared: return 1.0;
    case Role::q: return 1.0 / std::sqrt(double(s.dm * s.kv));
    case Role::k: case Role::v: case Role::kv: case Role::wi: case Role::wi_0: case Role::wi_1:
    case Role::relative_bias: case Role::lm_head: return 1.0 / std::sqrt(double(s.dm));
    case Role::o: return 1.0 / std::sqrt(double(s.nh * s.kv));
    case Role::wo: return 1.0 / std::sqrt(double(s.ff));
    default: return -1.0;
  }
}

class InitStatistics : public ::testing::TestWithParam<bool> {};

TEST_P(InitStatistics, EachRoleMatchesSpec) {
  const Shape shape = small_shape(GetParam());
  const ParamTable table(shape);
  std::vector<float> params(size_t(table.total()), -7.0f);
  init_params(table, params.data(), 1234);

  struct Moments { double n = 0, sum = 0, sum_sq = 0, within_one_std = 0; };
  std::map<Role, Moments> by_role;
  for (const ParamSpec& p : table.params()) {
    const float* w = params.data() + p.offset;
    if (p.role == Role::norm || p.role == Role::final_norm) {
      for (int64_t i = 0; i < p.numel; ++i) ASSERT_EQ(w[i], 1.0f) << p.name;
      continue;
    }
    const double sd = spec_std(p.role, shape);
    ASSERT_GT(sd, 0) << p.name;
    Moments& m = by_role[p.role];
    for (int64_t i = 0; i < p.numel; ++i) {
      m.n += 1;
      m.sum += w[i] / sd;   // standardised by the SPEC std
      m.sum_sq += double(w[i]) * w[i] / (sd * sd);
      m.within_one_std += std::abs(w[i]) < sd;
    }
  }
  EXPECT_EQ(by_role.count(Role::lm_head), size_t(!shape.tied));
  EXPECT_EQ(by_role.count(Role::wi_0), size_t(shape.gated()));
  for (const auto& [role, m] : by_role) {
    const double mean = m.sum / m.n, std = std::sqrt(m.sum_sq / m.n - mean * mean);
    // Sampling error: mean ~ 1/sqrt(n), std ~ 1/sqrt(2n) (standardised); allow 5 sigma.
    EXPECT_LT(std::abs(mean), 5.0 / std::sqrt(m.n)) << "role " << int(role) << " n " << m.n;
    EXPECT_NEAR(std, 1.0, std::max(0.01, 5.0 / std::sqrt(2 * m.n))) << "role " << int(role) << " n " << m.n;
    // A normal puts 68.27% of its mass within one std (binomial error sqrt(p(1-p)/n)).
    EXPECT_NEAR(m.within_one_std / m.n, 0.6827, 5 * std::sqrt(0.6827 * 0.3173 / m.n)) << "role " << int(role);
  }
  // The big tensors pin the std to well within 1%.
  const Moments& shared = by_role[Role::shared];
  EXPECT_NEAR(std::sqrt(shared.sum_sq / shared.n), 1.0, 0.002);
}

INSTANTIATE_TEST_SUITE_P(ReluTiedAndGatedUntied, InitStatistics, ::testing::Values(false, true));

// skv's kv tensor starts like k and v (Mesh TF kv_init, N(0, dm^-½)); sh leaves one set of projections
// per stack and kind, each initialised once.
TEST(Init, SharingShapesInitTheTiedTensorsLikeTheirUntiedKinds) {
  Shape shape = small_shape(false);
  shape.shared_kv = shape.shared_heads = true;
  const ParamTable table(shape);
  std::vector<float> params(size_t(table.total()), -7.0f);
  init_params(table, params.data(), 5);
  int kv_tensors = 0;
  double n = 0, sum_sq = 0;
  for (const ParamSpec& p : table.params()) {
    EXPECT_NE(p.role, Role::k);
    EXPECT_NE(p.role, Role::v);
    if (p.role == Role::q || p.role == Role::o || p.role == Role::kv) EXPECT_EQ(p.layer, 0) << p.name;
    if (p.role != Role::kv) continue;
    ++kv_tensors;
    for (int64_t i = 0; i < p.numel; ++i, n += 1) sum_sq += double(params[p.offset + i]) * params[p.offset + i];
  }
  EXPECT_EQ(kv_tensors, 3);   // encoder self, decoder self, decoder cross
  const double std = std::sqrt(sum_sq / n), want = spec_std(Role::kv, shape);
  EXPECT_NEAR(std / want, 1.0, 5.0 / std::sqrt(2 * n));
  for (float x : params) ASSERT_NE(x, -7.0f);   // every float written
}

TEST(Init, DeterministicPerSeedAndAcrossThreadCounts) {
  const ParamTable table(small_shape(false));
  std::vector<float> a(size_t(table.total())), b(a.size()), c(a.size());
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  init_params(table, a.data(), 42);
  omp_set_num_threads(std::max(2, threads));
  init_params(table, b.data(), 42);
  omp_set_num_threads(threads);
  init_params(table, c.data(), 43);
  EXPECT_EQ(a, b);
  size_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == c[i];
  EXPECT_LT(same, a.size() / 10 + 1000);   // only the norms' ones coincide
}

TEST(Init, ValuesDependOnNameAndIndexOnly) {
  // A tensor gets the same values whatever else the shape holds: compare two shapes that differ in depth.
  const Shape s1 = small_shape(false);
  Shape s2 = s1;
  s2.el = 5;
  const ParamTable t1(s1), t2(s2);
  std::vector<float> p1(size_t(t1.total())), p2(size_t(t2.total()));
  init_params(t1, p1.data(), 7);
  init_params(t2, p2.data(), 7);
  for (const char* name : {"shared.weight", "decoder.block.2.layer.1.EncDecAttention.o.weight",
                           "encoder.block.1.layer.1.DenseReluDense.wi.weight"}) {
    const ParamSpec &a = t1.at(name), &b = t2.at(name);
    ASSERT_EQ(a.numel, b.numel);
    EXPECT_TRUE(std::equal(p1.begin() + a.offset, p1.begin() + a.offset + a.numel, p2.begin() + b.offset)) << name;
  }
  const ParamSpec& q = t1.at("encoder.block.0.layer.0.SelfAttention.q.weight");
  for (int64_t i : {0, 1, 2, 1001})
    EXPECT_EQ(p1[size_t(q.offset + i)], float(q.init.std * init_normal(7, q.name, i))) << i;
  // Different tensors of equal size are not copies of each other.
  const ParamSpec& k = t1.at("encoder.block.0.layer.0.SelfAttention.k.weight");
  EXPECT_NE(p1[size_t(q.offset)] / q.init.std, p1[size_t(k.offset)] / k.init.std);
}

TEST(Init, CommandWritesTheSameWeightsAndConfig) {
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("t5scale_init_cmd_{}", ::getpid());
  std::filesystem::remove_all(dir);
  const std::string shape = "tiny-nl2-dm128-ff256-nh2";
  const std::string out = (dir / "out.txt").string();
  std::filesystem::create_directories(dir);
  const std::string cmd = fmt::format("{} init --model {} --seed 5 --out {} > {}", T5SCALE_BINARY, shape,
                                      (dir / "m").string(), out);
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const ParamTable table(parse_shape_name(shape));
  std::vector<float> want(size_t(table.total())), got(want.size(), 0.0f);
  init_params(table, want.data(), 5);
  load_hf_weights(table, got.data(), (dir / "m" / "model.safetensors").string());
  EXPECT_EQ(got, want);
  EXPECT_TRUE(load_shape_file((dir / "m" / "config.json").string()).same_structure(table.shape()));
  std::ifstream printed(out);
  std::string line;
  std::getline(printed, line);
  EXPECT_THAT(line, ::testing::HasSubstr(fmt::format("\t{} parameters", count_params(table.shape()).total)));

  // A .safetensors target in bf16 puts config.json beside it.
  const std::string file = (dir / "w" / "weights.safetensors").string();
  ASSERT_EQ(std::system(fmt::format("{} init --model {} --seed 5 --out {} --dtype bf16 > /dev/null", T5SCALE_BINARY,
                                    shape, file).c_str()),
            0);
  EXPECT_TRUE(std::filesystem::exists(dir / "w" / "config.json"));
  const auto tensors = read_safetensors(file);
  ASSERT_EQ(tensors.size(), table.params().size());
  EXPECT_EQ(tensors[0].dtype, "BF16");
  EXPECT_EQ(tensors[0].data[3], bf16_to_float(float_to_bf16(want[3])));
  // Bad input: one line, exit status 1, nothing written.
  testing::expect_one_line_error(
      testing::t5scale(fmt::format("init --model {} --seed 5 --out {} --dtype f8", shape, (dir / "bad").string())),
      "init", "--dtype must be f32 or bf16, got 'f8'");
  EXPECT_FALSE(std::filesystem::exists(dir / "bad"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace t5
