// `t5scale loss` end to end against the PyTorch parity fixtures (tests/fixtures/model, written by
// tests/reference/t5_reference.py): the binary reads the torch-written HF state dict (with the tied
// embed_tokens / lm_head copies and, for relu_tied, the stray cross-attention bias table) and the
// HF-form batch, and its loss (1e-5 relative), label tokens, global and per-parameter gradient norms
// and written gradients (1e-4 norm-wise relative) must match the float64 reference; likewise with
// z-loss. Then every malformed-input path of `loss` and `step`: one line naming file and key, exit 1,
// nothing written.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/optimizer.h"
#include "core/safetensors.h"
#include "tests/cli_runner.h"
#include "tests/model_fixture.h"

namespace t5 {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::expect_one_line_error;
using testing::load_model_fixture;
using testing::ModelFixture;
using testing::relative_error;
using testing::t5scale;

// A scratch directory with the fixture's config.json and batch.json; weights are the committed
// torch-written NAME.safetensors.
struct LossCase {
  ModelFixture f;
  fs::path dir;
  std::string weights;

  explicit LossCase(const std::string& name) : f(load_model_fixture(name)) {
    // The commands inherit it: models this small take ~0.1 s on one thread but seconds with two
    // OpenMP threads spinning on a shared, loaded machine.
    ::setenv("OMP_NUM_THREADS", "1", 1);
    dir = fs::temp_directory_path() / fmt::format("t5scale-cmd-loss-{}-{}", name, ::getpid());
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::ofstream(dir / "config.json") << f.meta["config"].dump();
    write_batch(f.meta["batch"]);
    weights = testing::fixture_dir() + name + ".safetensors";
  }
  ~LossCase() { fs::remove_all(dir); }
  LossCase(const LossCase&) = delete;
  LossCase& operator=(const LossCase&) = delete;

  std::string path(const std::string& file) const { return (dir / file).string(); }
  void write_batch(const nlohmann::json& batch, const std::string& file = "batch.json") const {
    std::ofstream(dir / file) << batch.dump();
  }
  std::string args(const std::string& batch_file = "batch.json") const {
    return fmt::format("--model {} --weights {} --batch {}", path("config.json"), weights, path(batch_file));
  }
};

// Checks one `loss --json --grads-out` run against the reference gradients "<prefix><HF name>"; the
// batch is batch.json (reference loss "loss", tokens "label_tokens") unless `batch` names another
// fixture batch ("masked" → masked_batch, masked_loss, masked_label_tokens).
void check_against_reference(const LossCase& c, const std::string& extra, const std::string& prefix,
                             const std::string& batch = "") {
  const ModelFixture& f = c.f;
  const std::string under = batch.empty() ? "" : batch + "_";
  if (!batch.empty()) c.write_batch(f.meta[under + "batch"], under + "batch.json");
  const CommandResult r = t5scale(
      fmt::format("loss {} --json --grads-out {} {}", c.args(under + "batch.json"), c.path("g.safetensors"), extra));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  const double ref_loss = f.meta[under + "loss"].get<double>();
  const double loss_err = std::abs(j["loss"].get<double>() - ref_loss) / ref_loss;
  EXPECT_LT(loss_err, 1e-5) << j["loss"] << " vs " << ref_loss;
  EXPECT_EQ(j["label_tokens"], f.meta[under + "label_tokens"]);

  const ParamTable table(f.shape);
  const std::vector<float> ref = f.buffer(prefix, table);
  const double ref_norm = global_norm(ref.data(), int64_t(ref.size()));
  EXPECT_LT(std::abs(j["grad_norm"].get<double>() - ref_norm) / ref_norm, 1e-4);

  // One norm per table parameter, in table order, by HF name (tied: no lm_head.weight).
  ASSERT_EQ(j["parameters"].size(), table.params().size());
  const std::vector<Tensor> grads = read_safetensors(c.path("g.safetensors"));
  ASSERT_EQ(grads.size(), table.params().size());
  double worst_norm = 0, worst_grad = 0;
  for (size_t i = 0; i < grads.size(); ++i) {
    const ParamSpec& p = table.params()[i];
    EXPECT_EQ(j["parameters"][i]["name"], p.name);
    const double want = global_norm(ref.data() + p.offset, p.numel);
    const double norm_err = std::abs(j["parameters"][i]["grad_norm"].get<double>() - want) / want;
    EXPECT_LT(norm_err, 1e-4) << p.name;
    EXPECT_EQ(grads[i].name, p.name);
    EXPECT_EQ(grads[i].dtype, "F32");
    ASSERT_EQ(grads[i].shape, p.shape) << p.name;
    const double grad_err = relative_error(grads[i].data.data(), ref.data() + p.offset, p.numel);
    EXPECT_LT(grad_err, 1e-4) << p.name;
    worst_norm = std::max(worst_norm, norm_err);
    worst_grad = std::max(worst_grad, grad_err);
  }
  EXPECT_EQ(f.shape.tied, j["parameters"].back()["name"] != "lm_head.weight");
  std::printf("[cmd loss] %s %s: loss rel err %.3g, worst per-parameter norm rel err %.3g, worst gradient rel err %.3g\n",
              f.name.c_str(), prefix.c_str(), loss_err, worst_norm, worst_grad);
}

class CmdLoss : public ::testing::TestWithParam<std::string> {};

TEST_P(CmdLoss, LossNormsAndGradientsMatchPyTorch) {
  const LossCase c(GetParam());
  check_against_reference(c, "", "grad/");
}

// attention_mask and decoder_attention_mask with zeros inside rows, as HF applies them.
TEST_P(CmdLoss, MasksWithInnerZerosMatchPyTorch) {
  const LossCase c(GetParam());
  check_against_reference(c, "", "masked_grad/", "masked");
}

TEST_P(CmdLoss, ZLossValueAndGradients) {
  const LossCase c(GetParam());
  const double coef = c.f.meta["z_loss_coef"].get<double>();
  check_against_reference(c, fmt::format("--z-loss {}", coef), "grad_z/");
  const CommandResult r = t5scale(fmt::format("loss {} --json --z-loss {}", c.args(), coef));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const double z = nlohmann::json::parse(r.out)["z_loss"].get<double>(), ref = c.f.meta["z_loss"].get<double>();
  EXPECT_LT(std::abs(z - ref) / ref, 1e-5) << z << " vs " << ref;
}

// The text form prints the same numbers: a summary line (with z_loss when it is on), then one
// "name norm" line per parameter.
TEST_P(CmdLoss, TextOutputHoldsTheSameNumbers) {
  const LossCase c(GetParam());
  for (const std::string extra : {"", " --z-loss 0.01"}) {
    SCOPED_TRACE(extra);
    const CommandResult text = t5scale("loss " + c.args() + extra);
    ASSERT_EQ(text.exit_code, 0) << text.err;
    const nlohmann::json j = nlohmann::json::parse(t5scale("loss " + c.args() + extra + " --json").out);
    std::istringstream in(text.out);
    std::string word;
    double loss = 0, grad_norm = 0;
    int64_t tokens = 0;
    in >> word >> loss;
    EXPECT_EQ(word, "loss");
    in >> word >> tokens;
    EXPECT_EQ(word, "label_tokens");
    in >> word >> grad_norm;
    EXPECT_EQ(word, "grad_norm");
    EXPECT_NEAR(loss, j["loss"].get<double>(), 1e-8);
    EXPECT_EQ(tokens, j["label_tokens"].get<int64_t>());
    EXPECT_NEAR(grad_norm, j["grad_norm"].get<double>(), 1e-7 * grad_norm);
    if (!extra.empty()) {
      double z = 0;
      in >> word >> z;
      EXPECT_EQ(word, "z_loss");
      EXPECT_NEAR(z, j["z_loss"].get<double>(), 1e-7 * z);
      EXPECT_GT(z, 0.0);
    }
    for (const auto& p : j["parameters"]) {
      double norm = 0;
      in >> word >> norm;
      EXPECT_EQ(word, p["name"].get<std::string>());
      EXPECT_NEAR(norm, p["grad_norm"].get<double>(), 1e-7 * norm);
    }
    EXPECT_EQ(testing::lines(text.out), int(j["parameters"].size()) + 1);
    // One column of norms: every value starts where the longest name (a relative-bias table) ends + 1.
    std::istringstream rows(text.out);
    std::string row;
    std::getline(rows, row);
    std::set<size_t> value_columns;
    while (std::getline(rows, row)) value_columns.insert(row.find_last_of(' ') + 1);
    EXPECT_EQ(value_columns.size(), 1u);
  }
}

// skv, sh, sh_skv: their NAME.safetensors is the t5scale layout (the table's tensors; transformers' T5
// cannot hold them) and their config.json carries shared_kv / shared_heads.
INSTANTIATE_TEST_SUITE_P(Fixtures, CmdLoss, ::testing::Values("relu_tied", "gated_untied", "skv", "sh", "sh_skv"));

// decoder_input_ids default to labels shifted right (start 0, -100 -> 0): giving them explicitly
// (and an all-ones decoder_attention_mask) changes nothing.
TEST(CmdLoss, ExplicitShiftedDecoderInputsEqualTheDefault) {
  const LossCase c("gated_untied");
  nlohmann::json b = c.f.meta["batch"];
  nlohmann::json dec = b["labels"], mask = b["labels"];
  for (size_t r = 0; r < dec.size(); ++r)
    for (size_t i = dec[r].size(); i-- > 0;) {
      const int64_t prev = i == 0 ? 0 : b["labels"][r][i - 1].get<int64_t>();
      dec[r][i] = prev == -100 ? 0 : prev;
      mask[r][i] = 1;
    }
  b["decoder_input_ids"] = dec;
  b["decoder_attention_mask"] = mask;
  c.write_batch(b, "explicit.json");
  const CommandResult r = t5scale("loss --json " + c.args("explicit.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const double ref = c.f.meta["loss"].get<double>();
  EXPECT_LT(std::abs(nlohmann::json::parse(r.out)["loss"].get<double>() - ref) / ref, 1e-5);
}

// The other argument forms: --model as a shape name and --weights as a directory (what `t5scale init`
// writes) give exactly what config.json and the file itself give.
TEST(CmdLoss, ShapeNameAndWeightsDirectoryEqualConfigAndFile) {
  const LossCase c("relu_tied");
  const std::string shape = "tiny-nl1-dm64-ff128", w = c.path("init");
  ASSERT_EQ(t5scale(fmt::format("init --model {} --seed 3 --out {}", shape, w)).exit_code, 0);
  nlohmann::json b = {{"input_ids", {{13, 200, 31999, 1}, {7, 8, 1, 0}}}, {"labels", {{42, 31000, 1}, {5, 1, -100}}}};
  b["attention_mask"] = {{1, 1, 1, 1}, {1, 1, 1, 0}};
  c.write_batch(b, "big_vocab.json");
  const CommandResult by_name = t5scale(fmt::format("loss --json --model {} --weights {} --batch {}", shape, w,
                                                    c.path("big_vocab.json")));
  const CommandResult by_file = t5scale(fmt::format("loss --json --model {}/config.json --weights {}/model.safetensors "
                                                    "--batch {}", w, w, c.path("big_vocab.json")));
  ASSERT_EQ(by_name.exit_code, 0) << by_name.err;
  ASSERT_EQ(by_file.exit_code, 0) << by_file.err;
  EXPECT_EQ(by_name.out, by_file.out);
  const nlohmann::json j = nlohmann::json::parse(by_name.out);
  EXPECT_EQ(j["label_tokens"], 5);
  EXPECT_TRUE(std::isfinite(j["loss"].get<double>()));
}

// Every malformed input of `loss` and `step`: one line naming the file and the key, exit 1, and no
// output file (gradients or weights) left behind.
class BadInput : public ::testing::TestWithParam<std::string> {};

TEST_P(BadInput, OneLineNamingFileAndKey) {
  const std::string command = GetParam();
  const LossCase c("relu_tied");
  const std::string out = c.path("out.safetensors");
  const std::string write_opt = command == "loss" ? "--grads-out " + out : "--out " + out;
  const nlohmann::json good = c.f.meta["batch"];
  const int64_t V = c.f.shape.vocab_size;
  auto with = [&](const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json b = good;
    edit(b);
    return b.dump();
  };
  struct Case {
    std::string name, batch, expected;
  };
  const std::string bj = c.path("bad.json");
  const std::vector<Case> cases = {
      {"syntax", "{\"input_ids\": [[1, 2]", bj + ":1:22: invalid JSON: "},
      {"unknown key", with([](auto& b) { b["input_idz"] = b["input_ids"]; }), bj + ": unknown key 'input_idz'"},
      {"missing labels", with([](auto& b) { b.erase("labels"); }), bj + ": missing required key 'labels'"},
      {"ragged labels", with([](auto& b) { b["labels"][1].push_back(5); }), bj + ": 'labels' row 1 has 8 values"},
      {"label out of vocab", with([&](auto& b) { b["labels"][0][2] = V; }),
       fmt::format("{}: 'labels' row 0 position 2: {} is outside the vocabulary [0, {})", bj, V, V)},
      {"negative label", with([](auto& b) { b["labels"][2][0] = -5; }), bj + ": 'labels' row 2 position 0: -5"},
      {"input id out of vocab", with([&](auto& b) { b["input_ids"][1][0] = V + 7; }),
       fmt::format("{}: 'input_ids' row 1 position 0: {} is outside the vocabulary", bj, V + 7)},
      {"mask shape", with([](auto& b) { b["attention_mask"][0].erase(0); }), bj + ": 'attention_mask' row 1 has"},
      {"mask value", with([](auto& b) { b["attention_mask"][0][0] = 2; }),
       bj + ": 'attention_mask' row 0 position 0: 2 is not 0 or 1"},
      {"row without inputs", with([](auto& b) { for (auto& v : b["attention_mask"][1]) v = 0; }),
       bj + ": 'attention_mask' row 1 is all 0"},
      {"rows differ", with([](auto& b) { b["labels"].erase(0); }), bj + ": 'labels' has 2 rows but 'input_ids' has 3"},
      {"decoder inputs shape", with([](auto& b) { b["decoder_input_ids"] = b["input_ids"]; }),
       bj + ": 'decoder_input_ids' is [3, 9] but 'labels' is [3, 7]"},
      {"not integers", with([](auto& b) { b["input_ids"][0][1] = 1.5; }),
       bj + ": 'input_ids' row 0 position 1 must be an integer"},
      {"label under a zero decoder mask",
       with([](auto& b) {
         b["decoder_attention_mask"] = nlohmann::json::array();
         for (const auto& row : b["labels"]) b["decoder_attention_mask"].push_back(std::vector<int>(row.size(), 1));
         b["decoder_attention_mask"][0][3] = 0;
       }),
       bj + ": 'labels' row 0 position 3 is 23 where decoder_attention_mask is 0"},
      {"no label tokens", with([](auto& b) { for (auto& row : b["labels"]) for (auto& v : row) v = -100; }),
       bj + ":labels: no label tokens"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(command + ": " + k.name);
    std::ofstream(bj) << k.batch;
    const CommandResult r = t5scale(fmt::format("{} {} {}", command, c.args("bad.json"), write_opt));
    expect_one_line_error(r, command, k.expected);
    EXPECT_FALSE(fs::exists(out));
  }
  // Files other than the batch: a missing batch, weights of another shape, a missing weights file.
  SCOPED_TRACE(command + ": other files");
  expect_one_line_error(t5scale(fmt::format("{} {} {}", command, c.args("absent.json"), write_opt)), command,
                        c.path("absent.json") + ": cannot open");
  const std::string other = testing::fixture_dir() + "gated_untied.safetensors";
  const CommandResult wrong = t5scale(fmt::format("{} --model {} --weights {} --batch {} {}", command,
                                                  c.path("config.json"), other, c.path("batch.json"), write_opt));
  expect_one_line_error(wrong, command, other);
  EXPECT_FALSE(fs::exists(out));
}

INSTANTIATE_TEST_SUITE_P(Commands, BadInput, ::testing::Values("loss", "step"));

}  // namespace
}  // namespace t5
