// The sweep's stored GEMM ceiling (sweeps/ceiling.h): a stored value of the sweep's precision is reused
// as is, one of another precision is measured again in the sweep's precision and replaces the file.
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "core/gemm.h"
#include "core/names.h"
#include "sweeps/ceiling.h"

namespace t5 {
namespace {

namespace fs = std::filesystem;

TEST(SweepCeiling, StoredValueIsReusedOnlyForItsPrecision) {
  const std::string dir = (fs::temp_directory_path() / fmt::format("t5scale_ceiling_{}", ::getpid())).string();
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir + "/ceiling.json") << R"({"precision": "fp32", "flops_per_second": 123.0})";
  const Shape shape = resolve_shape("t5-efficient-tiny");
  const Lengths lengths{64, 16, 2};
  EXPECT_EQ(sweep_gemm_ceiling(dir, shape, lengths, GemmPrecision::fp32), 123.0);  // stored, not measured

  const double bf16 = sweep_gemm_ceiling(dir, shape, lengths, GemmPrecision::bf16);
  EXPECT_GT(bf16, 0.0);
  EXPECT_NE(bf16, 123.0);
  const nlohmann::json stored = nlohmann::json::parse(std::ifstream(dir + "/ceiling.json"));
  EXPECT_EQ(stored["precision"], "bf16");
  EXPECT_EQ(stored["flops_per_second"].get<double>(), bf16);
  EXPECT_EQ(sweep_gemm_ceiling(dir, shape, lengths, GemmPrecision::bf16), bf16);  // now reused
  fs::remove_all(dir);
}

// On a cluster of mixed CPUs one results directory serves nodes with and without a native bf16 matmul:
// a stored bf16 ceiling is reused only by a process whose bf16 products take the same path (native or
// emulated, core/gemm.h); another path measures its own and replaces the file. Works on any CPU: the
// emulated path is forced, and the stored file claims the path this process does not take.
TEST(SweepCeiling, StoredBf16ValueIsReusedOnlyForItsPath) {
  const std::string dir = (fs::temp_directory_path() / fmt::format("t5scale_ceiling_path_{}", ::getpid())).string();
  fs::remove_all(dir);
  fs::create_directories(dir);
  const Shape shape = resolve_shape("t5-efficient-tiny");
  const Lengths lengths{64, 16, 2};
  const auto store = [&](const char* path) {
    std::ofstream(dir + "/ceiling.json") << fmt::format(R"({{"precision": "bf16", "precision_path": "{}", "flops_per_second": 123.0}})", path);
  };
  const auto stored_path = [&] {
    return nlohmann::json::parse(std::ifstream(dir + "/ceiling.json"))["precision_path"].get<std::string>();
  };
  force_bf16_emulation(true);
  store("emulated");
  EXPECT_EQ(sweep_gemm_ceiling(dir, shape, lengths, GemmPrecision::bf16), 123.0);  // same path: reused
  store("native");
  const double emulated = sweep_gemm_ceiling(dir, shape, lengths, GemmPrecision::bf16);
  EXPECT_NE(emulated, 123.0);  // a native node's ceiling is no ceiling for emulated products
  EXPECT_EQ(stored_path(), "emulated");
  EXPECT_EQ(sweep_gemm_ceiling(dir, shape, lengths, GemmPrecision::bf16), emulated);
  force_bf16_emulation(false);

  // Unforced: this process's own path; the file claims the other one.
  const std::string mine = to_string(precision_path(GemmPrecision::bf16));
  store(mine == "native" ? "emulated" : "native");
  EXPECT_NE(sweep_gemm_ceiling(dir, shape, lengths, GemmPrecision::bf16), 123.0);
  EXPECT_EQ(stored_path(), mine);
  // A file from before the path was recorded was measured natively.
  std::ofstream(dir + "/ceiling.json") << R"({"precision": "bf16", "flops_per_second": 123.0})";
  EXPECT_EQ(sweep_gemm_ceiling(dir, shape, lengths, GemmPrecision::bf16) == 123.0, mine == "native");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace t5
