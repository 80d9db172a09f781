// safetensors interchange with PyTorch: tests/reference/safetensors_check.py parses the format by
// hand and converts with torch's own float16/bfloat16 casts. The committed fixture it wrote must
// read back exactly (always runs); when /usr/bin/python3 has torch, the script also checks a file
// t5scale writes and writes one back.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include "core/safetensors.h"

namespace t5 {
namespace {

namespace fs = std::filesystem;

const std::string kScript = std::string(T5SCALE_SOURCE_DIR) + "/tests/reference/safetensors_check.py";

std::vector<float> thirds(int n, float scale) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[size_t(i)] = float(i + 1) / 3.0f * scale;
  return v;
}
std::vector<float> rounded(std::vector<float> v, uint16_t (*to)(float), float (*from)(uint16_t)) {
  for (float& x : v) x = from(to(x));
  return v;
}

// The reference tensors of safetensors_check.py, computed here in float32 the same way.
std::vector<Tensor> reference() {
  return {{"a", "F32", {3, 4}, thirds(12, 1.0f)},
          {"b", "BF16", {5}, rounded(thirds(5, -1.0f), float_to_bf16, bf16_to_float)},
          {"c", "F16", {2, 3}, rounded(thirds(6, 1000.0f), float_to_f16, f16_to_float)},
          {"scalar", "F32", {}, {2.5f}},
          {"empty", "F32", {0, 3}, {}}};
}

void expect_reference(const std::vector<Tensor>& got) {
  const auto want = reference();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].name, want[i].name);
    EXPECT_EQ(got[i].dtype, want[i].dtype) << want[i].name;
    EXPECT_EQ(got[i].shape, want[i].shape) << want[i].name;
    EXPECT_EQ(got[i].data, want[i].data) << want[i].name;
  }
}

TEST(SafetensorsInterop, ReadsFixtureWrittenByTorch) {
  std::map<std::string, std::string> meta;
  const auto t = read_safetensors(std::string(T5SCALE_SOURCE_DIR) + "/tests/fixtures/safetensors/torch_written.safetensors", &meta);
  EXPECT_EQ(meta.at("format"), "pt");
  expect_reference(t);
  // Torch's casts as printed by torch itself (float16 and bfloat16 round to nearest even).
  EXPECT_EQ(t[1].data, (std::vector<float>{-0.333984375f, -0.66796875f, -1.0f, -1.3359375f, -1.6640625f}));
  EXPECT_EQ(t[2].data, (std::vector<float>{333.25f, 666.5f, 1000.0f, 1333.0f, 1667.0f, 2000.0f}));
}

TEST(SafetensorsInterop, TorchReadsOursAndWeReadTorchs) {
  if (std::system("/usr/bin/python3 -c 'import torch' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "/usr/bin/python3 with torch not available; the committed fixture test still ran";
  const fs::path dir = fs::temp_directory_path() / fmt::format("t5scale_st_interop_{}", ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string ours = (dir / "ours.safetensors").string(), theirs = (dir / "theirs.safetensors").string();
  write_safetensors(ours, reference());
  ASSERT_EQ(std::system(fmt::format("/usr/bin/python3 {} check {} write {} > /dev/null", kScript, ours, theirs).c_str()), 0);
  expect_reference(read_safetensors(theirs));
  // And the script's check really rejects a differing file.
  auto changed = reference();
  changed[2].data[1] = 666.0f;
  write_safetensors(ours, changed);
  EXPECT_NE(std::system(fmt::format("/usr/bin/python3 {} check {} 2> /dev/null", kScript, ours).c_str()), 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace t5
