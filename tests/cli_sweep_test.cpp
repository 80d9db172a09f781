// The sweep and report subcommands as a user runs them: --dry-run's table, one-line errors naming the
// spec file and key with exit code 1, and report on the stored fixture.
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/counts.h"
#include "core/describe.h"
#include "core/names.h"

namespace t5 {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

struct Result {
  int code = -1;
  std::string out;   // stdout and stderr together
};

Result run(const std::string& args) {
  Result r;
  FILE* pipe = ::popen(fmt::format("{} {} 2>&1", T5SCALE_BINARY, args).c_str(), "r");
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
  const int status = ::pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string write_spec(const std::string& name, const std::string& text) {
  const std::string path = (fs::temp_directory_path() / fmt::format("t5scale_cli_{}_{}.json", name, ::getpid())).string();
  std::ofstream(path) << text;
  return path;
}

TEST(CliSweep, DryRunListsVariantsWithExactCounts) {
  const std::string spec = write_spec("dry", R"({"name": "d", "base": "tiny", "grid": {"nl": [0, 2, 4]},
      "budget": {"steps": 10}, "batch": 8, "inputs_length": 64, "targets_length": 14,
      "data": {"source": "synthetic"}})");
  const Result r = run(fmt::format("sweep {} --dry-run --assume-gflops 100", spec));
  EXPECT_EQ(r.code, 0) << r.out;
  const Shape nl2 = parse_shape_name("tiny-nl2");
  const Lengths len{64, 14, 8};
  EXPECT_THAT(r.out, HasSubstr("sweep d: 2 variants (1 skipped)"));
  EXPECT_THAT(r.out, HasSubstr("tiny-nl2-s0"));
  EXPECT_THAT(r.out, HasSubstr(with_commas(count_params(nl2).total)));
  EXPECT_THAT(r.out, HasSubstr(human_count(count_flops(nl2, len).train_per_step)));
  EXPECT_THAT(r.out, HasSubstr("skipped tiny-nl0-s0: nl must be positive, got 0"));
  fs::remove(spec);
}

TEST(CliSweep, BadSpecIsOneLineNamingFileAndKey) {
  const std::string spec = write_spec("bad", R"({"name": "d", "base": "tiny", "grid": {"nl": [2]},
      "budget": {"steps": 10}, "batch": 8, "inputs_length": 64, "targets_length": 14, "lr": -1,
      "data": {"source": "synthetic"}})");
  const Result r = run(fmt::format("sweep {} --dry-run", spec));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, fmt::format("t5scale sweep: error: {}: key 'lr' must be greater than 0, got -1\n", spec));
  fs::remove(spec);
}

TEST(CliSweep, ShippedSpecsParse) {
  for (const auto& entry : fs::directory_iterator(std::string(T5SCALE_SOURCE_DIR) + "/sweeps")) {
    if (entry.path().extension() != ".json") continue;
    const Result r = run(fmt::format("sweep {} --dry-run --assume-gflops 100", entry.path().string()));
    EXPECT_EQ(r.code, 0) << entry.path() << ": " << r.out;
    EXPECT_THAT(r.out, ::testing::Not(HasSubstr("\nskipped "))) << entry.path();
  }
}

TEST(CliReport, WritesFilesAndListsThem) {
  const std::string out = (fs::temp_directory_path() / fmt::format("t5scale_cli_report_{}", ::getpid())).string();
  const Result r = run(fmt::format("report {}/tests/fixtures/results/depth-fixture --out {} --no-plots", T5SCALE_SOURCE_DIR, out));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr(out + "/report.md"));
  EXPECT_THAT(r.out, HasSubstr("1 torn line(s)"));
  EXPECT_TRUE(fs::exists(out + "/frontier_step_time.json"));
  fs::remove_all(out);
}

}  // namespace
}  // namespace t5
