// The sweep's stored GEMM ceiling (sweeps/ceiling.h): a stored value of the sweep's precision is reused
// as is, one of another precision is measured again in the sweep's precision and replaces the file.
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

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

}  // namespace
}  // namespace t5
