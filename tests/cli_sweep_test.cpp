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
#include "tests/cli_runner.h"

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

// A variant whose steps log cannot be written (a directory in its place) fails; once the cause is
// gone, a plain rerun leaves it failed and --retry-failed runs it again, keeping the old record.
TEST(CliSweep, RetryFailedRunsTheFailedVariantAgain) {
  const testing::ScratchDir scratch("t5scale_cli_retry");
  const std::string spec = scratch.write("retry.json", R"({"name": "retry", "base": "tiny-dm32-ff64-nh2-kv16",
      "grid": {"nl": [1, 2]}, "budget": {"steps": 4}, "batch": 2, "inputs_length": 8, "targets_length": 4,
      "threads": 1, "data": {"source": "synthetic"}})");
  const std::string out = scratch.path("out"), x = "tiny-dm32-ff64-nh2-kv16-nl2-s0";
  const std::string sweep = fmt::format("sweep {} --out {}", spec, out);
  const std::string in_the_way = out + "/steps/" + x + ".jsonl";
  fs::create_directories(in_the_way);

  testing::CommandResult r = testing::t5scale(sweep);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json summary = nlohmann::json::parse(r.out);
  EXPECT_EQ(summary["failed"], 1);
  EXPECT_EQ(summary["ok"], 1);
  std::string failed_line;
  {
    std::ifstream in(out + "/runs.jsonl");
    for (std::string line; std::getline(in, line);)
      if (line.find(x) != std::string::npos) failed_line = line;
  }
  ASSERT_THAT(failed_line, HasSubstr(R"("status":"failed")"));
  fs::remove(in_the_way);

  r = testing::t5scale(sweep);   // without the flag a failed variant is done
  ASSERT_EQ(r.exit_code, 0) << r.err;
  summary = nlohmann::json::parse(r.out);
  EXPECT_EQ(summary["ran_in_this_process"], 0);
  EXPECT_EQ(summary["failed"], 1);
  EXPECT_EQ(summary["retried"], 0);

  r = testing::t5scale(sweep + " --retry-failed");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("sweep retry: 1 failed record(s) moved to " + out + "/runs.retried.jsonl for retry"));
  summary = nlohmann::json::parse(r.out);
  EXPECT_EQ(summary["retried"], 1);
  EXPECT_EQ(summary["ran_in_this_process"], 1);
  EXPECT_EQ(summary["ok"], 2);
  EXPECT_EQ(summary["failed"], 0);
  EXPECT_EQ(summary["finished"], 2);
  EXPECT_EQ(testing::slurp(out + "/runs.retried.jsonl"), failed_line + "\n");
  const std::string runs = testing::slurp(out + "/runs.jsonl");
  EXPECT_EQ(testing::lines(runs), 2);
  EXPECT_THAT(runs, HasSubstr("tiny-dm32-ff64-nh2-kv16-nl1-s0"));
  EXPECT_THAT(runs, HasSubstr(x));
  EXPECT_THAT(runs, ::testing::Not(HasSubstr(R"("status":"failed")")));

  // report still reads runs.jsonl only.
  r = testing::t5scale(fmt::format("report {} --summary", out));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(x));
}

TEST(CliSweep, RetryFailedWithDryRunIsOneLine) {
  const testing::ScratchDir scratch("t5scale_cli_retry_bad");
  const std::string spec = scratch.write("d.json", R"({"name": "d", "base": "tiny", "grid": {"nl": [2]},
      "budget": {"steps": 10}, "batch": 8, "inputs_length": 64, "targets_length": 14,
      "data": {"source": "synthetic"}})");
  testing::expect_one_line_error(testing::t5scale(fmt::format("sweep {} --dry-run --retry-failed", spec)), "sweep",
                                 "--retry-failed moves records and --dry-run trains nothing");
  testing::expect_one_line_error(testing::t5scale(fmt::format("sweep {} --retry-failed --worker 1", spec)), "sweep",
                                 "--retry-failed is for the first worker only");
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
