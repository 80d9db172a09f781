// `t5scale step` end to end on the model parity fixture (tests/fixtures/model/relu_tied, written by
// tests/reference/t5_reference.py): the printed loss and gradient norm against the PyTorch float64
// reference, the written weights against our optimizer (itself checked against torch in
// optimizer_test) applied to the reference gradients, --state-out/--state-in continuity, and the
// data on stdout apart from the progress line on stderr.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/optimizer.h"
#include "core/param_table.h"
#include "core/safetensors.h"
#include "core/shape.h"
#include "core/timing.h"
#include "tests/cli_runner.h"

namespace t5 {
namespace {

namespace fs = std::filesystem;

struct StepFixture {
  nlohmann::json manifest;
  std::vector<float> blob;
  fs::path dir;
  std::unique_ptr<ParamTable> table;

  StepFixture() {
    ::setenv("OMP_NUM_THREADS", "1", 1);   // the commands inherit it: a model this small is fastest on one thread
    const std::string base = std::string(T5SCALE_SOURCE_DIR) + "/tests/fixtures/model/relu_tied";
    std::ifstream(base + ".json") >> manifest;
    std::ifstream bin(base + ".bin", std::ios::binary | std::ios::ate);
    blob.resize(size_t(bin.tellg()) / sizeof(float));
    bin.seekg(0);
    bin.read(reinterpret_cast<char*>(blob.data()), std::streamsize(blob.size() * sizeof(float)));
    dir = fs::temp_directory_path() / fmt::format("t5scale-cmd-step-{}", getpid());
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::ofstream(dir / "config.json") << manifest["config"].dump();
    std::ofstream(dir / "batch.json") << manifest["batch"].dump();
    table = std::make_unique<ParamTable>(shape_from_hf_config(manifest["config"], "fixture"));
    write_safetensors((dir / "w.safetensors").string(), tensors("param/"));
  }
  ~StepFixture() { fs::remove_all(dir); }

  std::vector<Tensor> tensors(const std::string& prefix) const {
    std::vector<Tensor> out;
    for (const auto& p : table->params()) {
      const auto& e = manifest["tensors"][prefix + p.name];
      const int64_t off = e["offset"];
      out.push_back(Tensor{p.name, "F32", p.shape, {blob.begin() + off, blob.begin() + off + p.numel}});
    }
    return out;
  }
  std::vector<float> buffer(const std::string& prefix) const {
    std::vector<float> b;
    for (const auto& t : tensors(prefix)) b.insert(b.end(), t.data.begin(), t.data.end());
    return b;
  }
  nlohmann::json run(const std::string& extra) const {
    const std::string out = (dir / "out.json").string();
    const std::string cmd = fmt::format(
        "{} step --model {} --weights {} --batch {} --json {} > {}", T5SCALE_BINARY, (dir / "config.json").string(),
        (dir / "w.safetensors").string(), (dir / "batch.json").string(), extra, out);
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    nlohmann::json j;
    std::ifstream(out) >> j;
    return j;
  }
  std::string path(const std::string& name) const { return (dir / name).string(); }
};

const char* kOptimizer = "--optimizer adafactor --factor-threshold 0 --no-parameter-scale --lr 0.001";

TEST(CmdStep, LossGradNormAndWeightsMatchReference) {
  const StepFixture f;
  const nlohmann::json j = f.run(fmt::format("{} --steps 1 --out {}", kOptimizer, f.path("w1.safetensors")));
  ASSERT_EQ(j["steps"].size(), 1u);
  const double loss = j["steps"][0]["loss"], ref_loss = f.manifest["loss"];
  EXPECT_NEAR(loss, ref_loss, 1e-5 * ref_loss);
  EXPECT_EQ(j["steps"][0]["label_tokens"], f.manifest["label_tokens"]);
  const std::vector<float> grads = f.buffer("grad/");
  const double ref_norm = global_norm(grads.data(), int64_t(grads.size()));
  EXPECT_NEAR(j["steps"][0]["grad_norm"].get<double>(), ref_norm, 1e-4 * ref_norm);

  // Our Adafactor (HF variant) on the reference gradients.
  OptimizerConfig c;
  c.factor_threshold = 0;
  c.multiply_by_parameter_scale = false;
  auto opt = make_optimizer(c, *f.table);
  std::vector<float> expect = f.buffer("param/");
  const std::vector<float> before = expect;
  opt->step(expect.data(), grads.data(), 0.001);
  std::vector<float> got;
  for (const auto& t : read_safetensors(f.path("w1.safetensors"))) got.insert(got.end(), t.data.begin(), t.data.end());
  ASSERT_EQ(got.size(), expect.size());
  double err = 0, moved = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    err = std::max(err, double(std::abs(got[i] - expect[i])));
    moved = std::max(moved, double(std::abs(before[i] - expect[i])));
  }
  EXPECT_GT(moved, 1e-4);
  EXPECT_LT(err, 1e-3 * moved);   // the update right to 0.1% (float32 vs float64 gradients)
}

TEST(CmdStep, StateOutThenStateInEqualsTwoSteps) {
  const StepFixture f;
  const nlohmann::json two = f.run(fmt::format("{} --steps 2 --out {}", kOptimizer, f.path("w2.safetensors")));
  ASSERT_EQ(two["steps"].size(), 2u);
  EXPECT_LT(two["steps"][1]["loss"].get<double>(), two["steps"][0]["loss"].get<double>());
  f.run(fmt::format("{} --steps 1 --out {} --state-out {}", kOptimizer, f.path("a.safetensors"), f.path("s.safetensors")));
  const std::string cmd2 = fmt::format(
      "{} step --model {} --weights {} --batch {} {} --steps 1 --state-in {} --out {} > /dev/null", T5SCALE_BINARY,
      f.path("config.json"), f.path("a.safetensors"), f.path("batch.json"), kOptimizer, f.path("s.safetensors"),
      f.path("b.safetensors"));
  ASSERT_EQ(std::system(cmd2.c_str()), 0);
  const auto x = read_safetensors(f.path("w2.safetensors")), y = read_safetensors(f.path("b.safetensors"));
  ASSERT_EQ(x.size(), y.size());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(x[i].data, y[i].data) << x[i].name;
  // A state file of another optimizer is refused with an error, not a crash.
  const std::string bad = fmt::format(
      "{} step --model {} --weights {} --batch {} --optimizer adamw --state-in {} --out {} 2> {}", T5SCALE_BINARY,
      f.path("config.json"), f.path("a.safetensors"), f.path("batch.json"), f.path("s.safetensors"),
      f.path("c.safetensors"), f.path("err.txt"));
  EXPECT_NE(std::system(bad.c_str()), 0);
  std::ifstream err(f.path("err.txt"));
  const std::string line((std::istreambuf_iterator<char>(err)), {});
  EXPECT_NE(line.find("t5scale step: error: " + f.path("s.safetensors") + ": optimizer state: "), std::string::npos)
      << line;
  EXPECT_FALSE(fs::exists(f.path("c.safetensors")));
}

// Text mode: stdout holds exactly the step lines (the same numbers as --json), the progress goes to
// stderr. Piped, it is "step k/N  loss L  S steps/s  R tok/s  ETA E" at most every 5 s and at the
// last step; R = S x the batch's tokens (3 examples x (9 + 7) tokens), the loss the last step's.
TEST(CmdStep, StdoutIsDataAndProgressGoesToStderr) {
  const StepFixture f;
  const nlohmann::json j = f.run(fmt::format("{} --steps 3 --out {}", kOptimizer, f.path("j.safetensors")));
  ASSERT_EQ(j["steps"].size(), 3u);
  const double begin = now_seconds();
  const testing::CommandResult r = testing::t5scale(
      fmt::format("step --model {} --weights {} --batch {} {} --steps 3 --out {}", f.path("config.json"),
                  f.path("w.safetensors"), f.path("batch.json"), kOptimizer, f.path("t.safetensors")));
  const double wall = now_seconds() - begin;
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string expected;
  for (const auto& s : j["steps"])
    expected += fmt::format("step {}  loss {:.8f}  grad_norm {:.6g}  label_tokens {}\n", s["step"].get<int64_t>(),
                            s["loss"].get<double>(), s["grad_norm"].get<double>(), s["label_tokens"].get<int64_t>());
  EXPECT_EQ(r.out, expected);

  const int progress_lines = testing::lines(r.err);
  EXPECT_GE(progress_lines, 1) << r.err;
  EXPECT_LE(progress_lines, 1 + int(wall / 5)) << r.err;
  const std::string last = r.err.substr(r.err.rfind("step "));
  long long k = 0, total = 0;
  double loss = 0, step_rate = 0, rate = 0;
  char eta[32] = {};
  ASSERT_EQ(std::sscanf(last.c_str(), "step %lld/%lld  loss %lf  %lf steps/s  %lf tok/s  ETA %31s", &k, &total, &loss,
                        &step_rate, &rate, eta),
            6)
      << r.err;
  EXPECT_EQ(k, 3);
  EXPECT_EQ(total, 3);
  EXPECT_NEAR(loss, j["steps"][2]["loss"].get<double>(), 5e-5);
  EXPECT_GT(step_rate, 0);
  const double tokens_per_step = 3 * (9 + 7);
  EXPECT_NEAR(rate, step_rate * tokens_per_step, 5e-3 * rate + tokens_per_step) << last;   // both rounded
  EXPECT_GE(step_rate, 3 / wall);   // the steps ran inside the command's wall time
  EXPECT_STREQ(eta, "0s");
}

}  // namespace
}  // namespace t5
