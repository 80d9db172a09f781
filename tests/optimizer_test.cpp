// Optimizers against tests/fixtures/optim (torch.optim.AdamW and a torch Adafactor written from the
// Mesh TF description; regenerate with
//   /usr/bin/python3 tests/reference/optimizers_reference.py tests/fixtures/optim),
// state save/load continuity, and the schedules against hand-worked values.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>

#include <omp.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/optimizer.h"
#include "core/safetensors.h"
#include "core/schedule.h"

namespace t5 {
namespace {

struct Fixture {
  nlohmann::json manifest;
  std::vector<float> blob;
  std::vector<ParamSpec> tensors;
  int64_t total = 0;

  Fixture() {
    const std::string dir = std::string(T5SCALE_SOURCE_DIR) + "/tests/fixtures/optim/";
    std::ifstream(dir + "optim.json") >> manifest;
    std::ifstream bin(dir + "optim.bin", std::ios::binary | std::ios::ate);
    blob.resize(size_t(bin.tellg()) / sizeof(float));
    bin.seekg(0);
    bin.read(reinterpret_cast<char*>(blob.data()), std::streamsize(blob.size() * sizeof(float)));
    for (const auto& t : manifest["tensors"]) {
      ParamSpec p;
      p.name = t["name"];
      p.shape = t["shape"].get<std::vector<int64_t>>();
      p.numel = 1;
      for (int64_t d : p.shape) p.numel *= d;
      p.offset = total;
      total += p.numel;
      tensors.push_back(p);
    }
  }
  std::vector<float> array(const nlohmann::json& entry) const {
    int64_t n = 1;
    for (int64_t d : entry["shape"].get<std::vector<int64_t>>()) n *= d;
    const int64_t off = entry["offset"];
    return {blob.begin() + off, blob.begin() + off + n};
  }
  // One buffer laid out like `tensors` from a {name: entry} map.
  std::vector<float> buffer(const nlohmann::json& by_name) const {
    std::vector<float> out(static_cast<size_t>(total));
    for (const auto& p : tensors) {
      std::vector<float> a = array(by_name[p.name]);
      std::copy(a.begin(), a.end(), out.begin() + p.offset);
    }
    return out;
  }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

double max_abs_diff(const float* a, const float* b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::abs(double(a[i]) - double(b[i])));
  return m;
}

class OptimizerFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(OptimizerFixture, ThreeStepsMatchTorchWithin1e5) {
  const Fixture& f = fixture();
  const auto& entry = f.manifest["configs"][GetParam()];
  const OptimizerConfig config = optimizer_config_from_json(entry["config"], GetParam());
  auto opt = make_optimizer(config, f.tensors);
  std::vector<float> w = f.buffer(f.manifest["init"]);
  const std::vector<float> init = w;
  for (size_t t = 0; t < 3; ++t) opt->step(w.data(), f.buffer(f.manifest["grads"][t]).data(), f.manifest["lrs"][t]);
  EXPECT_EQ(opt->step_count(), 3);

  const std::vector<float> ref = f.buffer(entry["params"]);
  for (const auto& p : f.tensors) {
    const double err = max_abs_diff(w.data() + p.offset, ref.data() + p.offset, p.numel);
    const double moved = max_abs_diff(init.data() + p.offset, ref.data() + p.offset, p.numel);
    double scale = 0;
    for (int64_t i = 0; i < p.numel; ++i) scale = std::max(scale, double(std::abs(ref[size_t(p.offset + i)])));
    // Within 1e-5 of the parameters' magnitude, and the update itself right to 0.1%.
    EXPECT_LE(err, 1e-5 * scale) << GetParam() << " " << p.name;
    EXPECT_LE(err, 1e-3 * moved) << GetParam() << " " << p.name << " moved " << moved;
    std::fprintf(stderr, "%s %s: max |w - w_torch| = %.3g (update %.3g, |w| %.3g)\n", GetParam().c_str(),
                 p.name.c_str(), err, moved, scale);
    EXPECT_GT(moved, 1e-6) << p.name << ": the fixture must move every tensor";
    RecordProperty(GetParam() + "." + p.name + ".max_abs_err", fmt::format("{:.3g}", err));
  }
  // Every state tensor the reference has, we have (same name and shape), and vice versa.
  const std::vector<Tensor> state = opt->state();
  EXPECT_EQ(state.size(), entry["state"].size() + 1);   // + "step"
  for (const auto& s : state) {
    if (s.name == "step") {
      EXPECT_EQ(s.data, std::vector<float>{3.0f});
      continue;
    }
    ASSERT_TRUE(entry["state"].contains(s.name)) << s.name;
    const std::vector<float> r = f.array(entry["state"][s.name]);
    ASSERT_EQ(s.data.size(), r.size()) << s.name;
    double scale = 0;
    for (float v : r) scale = std::max(scale, double(std::abs(v)));
    EXPECT_LE(max_abs_diff(s.data.data(), r.data(), int64_t(r.size())), 1e-5 * scale) << s.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Torch, OptimizerFixture,
                         ::testing::Values("adafactor_mesh", "adafactor_hf", "adafactor_clip", "adamw", "adamw_clip"));

// The fixture exercises the branches it claims to: Mesh TF factors only "big", HF every 2-D tensor.
TEST(Adafactor, FactoringFollowsThreshold) {
  const Fixture& f = fixture();
  auto names = [&](const OptimizerConfig& c) {
    std::vector<std::string> out;
    for (const auto& s : make_optimizer(c, f.tensors)->state()) out.push_back(s.name);
    return out;
  };
  OptimizerConfig mesh;
  const auto m = names(mesh);
  EXPECT_NE(std::find(m.begin(), m.end(), "big.vr"), m.end());
  EXPECT_NE(std::find(m.begin(), m.end(), "tall.v"), m.end());
  EXPECT_NE(std::find(m.begin(), m.end(), "vec.v"), m.end());
  OptimizerConfig hf;
  hf.factor_threshold = 0;
  const auto h = names(hf);
  EXPECT_NE(std::find(h.begin(), h.end(), "tall.vr"), h.end());
  EXPECT_NE(std::find(h.begin(), h.end(), "tiny.vc"), h.end());
  EXPECT_NE(std::find(h.begin(), h.end(), "vec.v"), h.end());
}

// Saving the state after 2 steps and loading it into a fresh optimizer continues bit-identically.
TEST(Optimizer, StateRoundTripContinuesExactly) {
  const Fixture& f = fixture();
  for (const char* name : {"adafactor_hf", "adamw"}) {
    const OptimizerConfig config = optimizer_config_from_json(f.manifest["configs"][name]["config"], name);
    auto a = make_optimizer(config, f.tensors);
    std::vector<float> wa = f.buffer(f.manifest["init"]);
    for (size_t t = 0; t < 2; ++t) a->step(wa.data(), f.buffer(f.manifest["grads"][t]).data(), 1e-3);
    auto b = make_optimizer(config, f.tensors);
    b->load_state(a->state());
    EXPECT_EQ(b->step_count(), 2);
    std::vector<float> wb = wa;
    const std::vector<float> g = f.buffer(f.manifest["grads"][2]);
    a->step(wa.data(), g.data(), 1e-3);
    b->step(wb.data(), g.data(), 1e-3);
    EXPECT_EQ(wa, wb) << name;
  }
}

// AdamW splits large tensors into chunks over the threads (core/optimizer.cpp): the update must be
// bit-identical at any thread count and equal to one thread walking each tensor whole.
TEST(Optimizer, AdamWChunkedLargeTensorIsThreadCountIndependent) {
  std::vector<ParamSpec> tensors(2);
  tensors[0].name = "shared.weight", tensors[0].shape = {1000, 300}, tensors[0].numel = 300000;  // several chunks
  tensors[1].name = "norm.weight", tensors[1].shape = {300}, tensors[1].numel = 300, tensors[1].offset = 300000;
  const int64_t n = 300300;
  std::mt19937_64 rng(5);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> w0(n), g(n);
  for (int64_t i = 0; i < n; ++i) w0[size_t(i)] = dist(rng), g[size_t(i)] = dist(rng);
  OptimizerConfig config;
  config.name = "adamw";
  config.weight_decay = 0.1;
  auto run = [&](int threads) {
    const int keep = omp_get_max_threads();
    omp_set_num_threads(threads);
    auto opt = make_optimizer(config, tensors);
    std::vector<float> w = w0;
    for (int s = 0; s < 3; ++s) opt->step(w.data(), g.data(), 1e-2);
    omp_set_num_threads(keep);
    return w;
  };
  const std::vector<float> one = run(1), two = run(2), three = run(3);
  EXPECT_EQ(one, two);
  EXPECT_EQ(one, three);
  // A constant gradient makes bias-corrected m/sqrt(v) = g/|g|: each step w ← w(1 − lr·wd) − lr·g/(|g| + eps).
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    double w = w0[size_t(i)];
    const double gi = g[size_t(i)];
    for (int s = 0; s < 3; ++s) w = w * (1.0 - 1e-2 * 0.1) - 1e-2 * gi / (std::abs(gi) + 1e-8);
    worst = std::max(worst, std::abs(w - double(one[size_t(i)])));
  }
  EXPECT_LT(worst, 1e-5);
}

// The fused step (StepOptions: gradients zeroed as they are read, norm summed in the update's pass
// or handed in) must give bit-identical weights and state to the plain step, over several steps, for
// every optimizer variant (chunked AdamW, factored and full Adafactor, momentum, global clipping).
TEST(Optimizer, FusedStepIsBitIdenticalAndZeroesTheGradients) {
  std::vector<ParamSpec> tensors(3);
  tensors[0].name = "shared.weight", tensors[0].shape = {300, 1000}, tensors[0].numel = 300000;
  tensors[1].name = "small.weight", tensors[1].shape = {40, 30}, tensors[1].numel = 1200, tensors[1].offset = 300000;
  tensors[2].name = "norm.weight", tensors[2].shape = {300}, tensors[2].numel = 300, tensors[2].offset = 301200;
  const int64_t n = 301500;
  std::mt19937_64 rng(11);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> w0(n);
  for (float& x : w0) x = 0.05f * dist(rng);
  std::vector<std::vector<float>> grads(3, std::vector<float>(n));
  for (auto& g : grads)
    for (float& x : g) x = 1e-2f * dist(rng);
  std::vector<OptimizerConfig> configs(5);
  configs[0].name = "adamw", configs[0].weight_decay = 0.1;
  configs[1].name = "adamw", configs[1].clip_norm = 0.5;
  configs[2].name = "adafactor";  // Mesh TF defaults: shared.weight factored, the rest full
  configs[3].name = "adafactor", configs[3].factor_threshold = 0, configs[3].beta1 = 0.9, configs[3].clip_norm = 1.0;
  configs[4].name = "adafactor", configs[4].factored = false, configs[4].weight_decay = 0.01;
  for (size_t k = 0; k < configs.size(); ++k) {
    for (const bool hand_norm : {false, true}) {
      auto plain = make_optimizer(configs[k], tensors);
      auto fused = make_optimizer(configs[k], tensors);
      std::vector<float> wp = w0, wf = w0, buffer(n, 0.0f);
      for (const auto& g : grads) {
        plain->step(wp.data(), g.data(), 1e-2);
        for (int64_t i = 0; i < n; ++i) buffer[size_t(i)] += g[size_t(i)];  // accumulate into the zeroed buffer
        StepOptions o{.zero_grads = true};
        if (hand_norm) o.grad_norm = global_norm(buffer.data(), n);
        fused->step(wf.data(), buffer.data(), 1e-2, o);
        EXPECT_TRUE(std::all_of(buffer.begin(), buffer.end(), [](float x) { return x == 0.0f; })) << k;
        EXPECT_NEAR(fused->last_grad_norm(), plain->last_grad_norm(), 1e-12 * plain->last_grad_norm()) << k;
      }
      EXPECT_EQ(wf, wp) << "config " << k << " hand_norm " << hand_norm;
      const std::vector<Tensor> sp = plain->state(), sf = fused->state();
      ASSERT_EQ(sp.size(), sf.size());
      for (size_t i = 0; i < sp.size(); ++i) EXPECT_EQ(sf[i].data, sp[i].data) << sp[i].name;
    }
  }
}

// global_norm sums fixed blocks in parallel: the same value at any thread count, equal to a long
// double serial sum to rounding.
TEST(Optimizer, GlobalNormIsThreadCountIndependent) {
  const int64_t n = 300001;  // several blocks and a ragged tail
  std::mt19937_64 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(n);
  for (float& v : x) v = dist(rng);
  long double serial = 0;
  for (float v : x) serial += (long double)v * v;
  const int keep = omp_get_max_threads();
  std::vector<double> norms;
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    norms.push_back(global_norm(x.data(), n));
  }
  omp_set_num_threads(keep);
  EXPECT_EQ(norms[0], norms[1]);
  EXPECT_EQ(norms[0], norms[2]);
  EXPECT_NEAR(norms[0], double(std::sqrt(serial)), 1e-12 * norms[0]);
}

TEST(Optimizer, LoadStateRejectsMismatch) {
  const Fixture& f = fixture();
  OptimizerConfig adamw;
  adamw.name = "adamw";
  auto a = make_optimizer(adamw, f.tensors);
  auto b = make_optimizer(OptimizerConfig{}, f.tensors);
  EXPECT_THROW(b->load_state(a->state()), Error);
  std::vector<Tensor> s = a->state();
  s.back().shape = {1, 2};
  EXPECT_THROW(a->load_state(s), Error);
}

TEST(Optimizer, GlobalNormAndConfigJson) {
  const std::vector<float> g{3.0f, 4.0f, 12.0f};
  EXPECT_DOUBLE_EQ(global_norm(g.data(), 3), 13.0);
  OptimizerConfig c;
  c.name = "adamw";
  c.clip_norm = 0.5;
  c.factor_threshold = 7;
  const OptimizerConfig back = optimizer_config_from_json(optimizer_config_to_json(c), "x");
  EXPECT_EQ(optimizer_config_to_json(back), optimizer_config_to_json(c));
  EXPECT_THROW(optimizer_config_from_json({{"name", "adamw"}, {"lr", 1}}, "x"), Error);
  EXPECT_THROW(optimizer_config_from_json({{"name", "sgd"}}, "x"), Error);
  EXPECT_THROW(optimizer_config_from_json({{"factor_threshold", 1.5}}, "x"), Error);
}

// --- schedules, hand-worked ---

TEST(Schedule, RsqrtIsT5) {
  ScheduleConfig c;   // lr 0.01, warm-up 10000: 1/sqrt(max(t, 10000))
  EXPECT_DOUBLE_EQ(learning_rate(c, 0), 0.01);
  EXPECT_DOUBLE_EQ(learning_rate(c, 9999), 0.01);
  EXPECT_DOUBLE_EQ(learning_rate(c, 10000), 0.01);
  EXPECT_NEAR(learning_rate(c, 40000), 0.005, 1e-15);
  EXPECT_NEAR(learning_rate(c, 250000), 0.002, 1e-15);
  c.lr = 0.02;
  c.warmup_steps = 100;   // scale factor 0.02 * 10 = 0.2: 0.2 / sqrt(400) = 0.01
  EXPECT_NEAR(learning_rate(c, 400), 0.01, 1e-15);
}

TEST(Schedule, ConstantAndCosine) {
  ScheduleConfig k{ScheduleKind::constant, 3e-4, 50, 100, 0.0};
  EXPECT_DOUBLE_EQ(learning_rate(k, 0), 3e-4);
  EXPECT_DOUBLE_EQ(learning_rate(k, 1000), 3e-4);
  ScheduleConfig c{ScheduleKind::cosine, 1e-3, 10, 110, 0.1};
  EXPECT_NEAR(learning_rate(c, 0), 1e-4, 1e-18);      // (0+1)/10 of the peak
  EXPECT_NEAR(learning_rate(c, 9), 1e-3, 1e-18);
  EXPECT_NEAR(learning_rate(c, 10), 1e-3, 1e-18);     // cosine starts at the peak
  EXPECT_NEAR(learning_rate(c, 60), 5.5e-4, 1e-15);   // half way: 0.1 + 0.9 * 0.5
  EXPECT_NEAR(learning_rate(c, 110), 1e-4, 1e-15);    // the floor
  EXPECT_NEAR(learning_rate(c, 500), 1e-4, 1e-15);
}

TEST(Schedule, ScaledWarmupAndJson) {
  EXPECT_EQ(scaled_warmup(524288), 10000);
  EXPECT_EQ(scaled_warmup(2000), 38);   // 10000 * 2000 / 524288 = 38.15
  EXPECT_EQ(scaled_warmup(10), 1);
  EXPECT_EQ(scaled_warmup(10000000), 10000);
  ScheduleConfig c{ScheduleKind::cosine, 1e-3, 10, 110, 0.1};
  EXPECT_EQ(schedule_config_to_json(schedule_config_from_json(schedule_config_to_json(c), "x")),
            schedule_config_to_json(c));
  EXPECT_THROW(parse_schedule_kind("linear"), Error);
  EXPECT_THROW(schedule_config_from_json({{"warmup", 3}}, "x"), Error);
}

}  // namespace
}  // namespace t5
