// Hugging Face interchange both ways, checked with PyTorch (SPEC.md §5). In: the torch-written state
// dicts of tests/fixtures/model (NAME.safetensors, written by tests/reference/t5_reference.py in
// T5ForConditionalGeneration.state_dict() order, with encoder/decoder.embed_tokens.weight copies, a
// tied lm_head.weight copy and a stray EncDecAttention relative_attention_bias) load into exactly the
// reference parameters. Out: save_hf_model's directory is loaded by the reference as transformers
// would (strict names, shapes, config keys; --check-hf) and gives our loss. transformers itself is
// not installed here; when torch is missing too, the export half is skipped.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/checkpoint.h"
#include "core/model.h"
#include "core/safetensors.h"
#include "core/shape.h"
#include "tests/model_fixture.h"

namespace t5 {
namespace {

namespace fs = std::filesystem;
using testing::load_model_fixture;
using testing::ModelFixture;

class HfInterop : public ::testing::TestWithParam<std::string> {};

TEST_P(HfInterop, TorchWrittenStateDictLoadsExactly) {
  const ModelFixture f = load_model_fixture(GetParam());
  const std::string path = testing::fixture_dir() + f.name + ".safetensors";
  // The file really carries the aliases the import rules are about.
  std::vector<std::string> names;
  for (const Tensor& t : read_safetensors(path)) names.push_back(t.name);
  for (const char* alias : {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight"})
    EXPECT_NE(std::find(names.begin(), names.end(), alias), names.end()) << alias;
  EXPECT_NE(std::find(names.begin(), names.end(), "lm_head.weight"), names.end());  // a copy when tied
  Model m(f.shape);
  load_hf_weights(m, path);
  const std::vector<float> want = f.buffer("param/", m.table());
  for (const auto& p : m.table().params())
    EXPECT_TRUE(std::equal(want.begin() + p.offset, want.begin() + p.offset + p.numel, m.params() + p.offset)) << p.name;
}

// Runs the reference's strict HF loader on (model dir, batch) pairs in one process (torch is slow to
// import): one JSON line each, {"loss", "label_tokens"} or {"error"}.
std::vector<nlohmann::json> reference_check(const std::vector<std::pair<fs::path, fs::path>>& pairs, const fs::path& out) {
  std::string cmd = fmt::format("/usr/bin/python3 {}/tests/reference/t5_reference.py --check-hf", T5SCALE_SOURCE_DIR);
  for (const auto& [dir, batch] : pairs) cmd += " " + dir.string() + " " + batch.string();
  const int status = std::system((cmd + " > " + out.string() + " 2>&1").c_str());
  std::vector<nlohmann::json> lines;
  std::ifstream in(out);
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    lines.push_back(j.is_discarded() ? nlohmann::json{{"error", line}} : j);
  }
  bool any_error = false;
  for (const auto& j : lines) any_error = any_error || j.contains("error");
  EXPECT_EQ(status != 0, any_error) << "exit status " << status;  // exit 1 exactly when a pair fails
  return lines;
}

TEST_P(HfInterop, ExportLoadsInReferenceWithOurLoss) {
  if (std::system("/usr/bin/python3 -c 'import torch' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "/usr/bin/python3 with torch not available; the torch-written import test still ran";
  const ModelFixture f = load_model_fixture(GetParam());
  const fs::path dir = fs::temp_directory_path() / fmt::format("t5scale-hf-export-{}-{}", f.name, ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path batch = dir / "batch.json";
  std::ofstream(batch) << f.meta["batch"].dump();
  Model m(f.shape);
  f.load_params(m);
  const std::vector<std::string> dtypes = {"F32", "BF16"};
  std::vector<double> ours;
  std::vector<std::pair<fs::path, fs::path>> pairs;
  for (const std::string& dtype : dtypes) {
    save_hf_model(m, (dir / dtype).string(), dtype);
    Model back(f.shape);
    load_hf_weights(back, (dir / dtype / "model.safetensors").string());
    ours.push_back(back.evaluate(f.batch).loss);
    pairs.emplace_back(dir / dtype, batch);
  }
  // The strict loader can fail: a copy of the F32 export with an extra tensor is an unexpected key.
  fs::copy(dir / "F32", dir / "extra");
  std::vector<Tensor> tensors = read_safetensors((dir / "extra" / "model.safetensors").string());
  tensors.push_back(Tensor{"encoder.block.0.layer.0.SelfAttention.extra.weight", "F32", {2}, {1.0f, 2.0f}});
  write_safetensors((dir / "extra" / "model.safetensors").string(), tensors);
  pairs.emplace_back(dir / "extra", batch);

  const std::vector<nlohmann::json> got = reference_check(pairs, dir / "check.jsonl");
  ASSERT_EQ(got.size(), pairs.size());
  for (size_t i = 0; i < dtypes.size(); ++i) {
    SCOPED_TRACE(dtypes[i]);
    ASSERT_TRUE(got[i].contains("loss")) << got[i];
    const double theirs = got[i]["loss"].get<double>();
    EXPECT_LT(std::abs(ours[i] - theirs) / theirs, 1e-5) << ours[i] << " vs " << theirs;
    EXPECT_EQ(got[i]["label_tokens"].get<int64_t>(), f.meta["label_tokens"].get<int64_t>());
    std::printf("[hf export] %s %s: reference loss %.9f, ours %.9f\n", f.name.c_str(), dtypes[i].c_str(), theirs,
                ours[i]);
  }
  EXPECT_NEAR(got[0]["loss"].get<double>(), f.meta["loss"].get<double>(), 1e-12);  // the fixture's own weights
  EXPECT_NE(got[2].value("error", "").find("unexpected key encoder.block.0.layer.0.SelfAttention.extra.weight"),
            std::string::npos)
      << got[2];
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HfInterop, ::testing::Values("relu_tied", "gated_untied"));

// sh and skv shapes: transformers' T5 cannot express them (hf_exportable), so their model directory is
// t5scale's own (config.json with shared_kv / shared_heads, the tied tensors once). It round-trips
// exactly through our loader, and the reference's loader, acting as transformers, refuses it with one
// line naming the key instead of loading a model whose copies would be random.
TEST(HfInteropSharing, OwnDirectoryRoundTripsAndTheHfLoaderRefusesIt) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("t5scale-hf-sharing-{}", ::getpid());
  fs::remove_all(dir);
  std::vector<std::pair<fs::path, fs::path>> pairs;
  for (const char* name : {"skv", "sh"}) {
    const ModelFixture f = load_model_fixture(name);
    EXPECT_FALSE(hf_exportable(f.shape));
    Model fixture_file(f.shape);   // the reference's own file of the tensors
    load_hf_weights(fixture_file, testing::fixture_dir() + name + ".safetensors");
    const std::vector<float> want = f.buffer("param/", fixture_file.table());
    EXPECT_TRUE(std::equal(want.begin(), want.end(), fixture_file.params()));
    save_hf_model(fixture_file, (dir / name).string());
    const Shape back_shape = load_shape_file((dir / name / "config.json").string());
    EXPECT_TRUE(back_shape.same_structure(f.shape)) << name;
    Model back(back_shape);
    load_hf_weights(back, (dir / name / "model.safetensors").string());
    EXPECT_TRUE(std::equal(want.begin(), want.end(), back.params())) << name;
    std::ofstream(dir / name / "batch.json") << f.meta["batch"].dump();
    pairs.emplace_back(dir / name, dir / name / "batch.json");
  }
  if (std::system("/usr/bin/python3 -c 'import torch' > /dev/null 2>&1") != 0) {
    fs::remove_all(dir);
    GTEST_SKIP() << "/usr/bin/python3 with torch not available; the round trip still ran";
  }
  const std::vector<nlohmann::json> got = reference_check(pairs, dir / "check.jsonl");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_NE(got[0].value("error", "").find("config.json: shared_kv is t5scale's own key; transformers' T5 cannot express it"),
            std::string::npos) << got[0];
  EXPECT_NE(got[1].value("error", "").find("config.json: shared_heads is t5scale's own key"), std::string::npos) << got[1];
  fs::remove_all(dir);
}

}  // namespace
}  // namespace t5
