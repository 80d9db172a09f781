// The sweep and report subcommands as a user runs them (tests/cli_runner.h: stdout and stderr apart):
// --dry-run's table, one-line errors naming the spec file and key with exit code 1, --retry-failed,
// and report on the stored fixture.
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/counts.h"
#include "core/describe.h"
#include "core/names.h"
#include "tests/cli_runner.h"

namespace t5 {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::CommandResult;
using testing::t5scale;

TEST(CliSweep, DryRunListsVariantsWithExactCounts) {
  const testing::ScratchDir scratch("t5scale_cli_dry");
  const std::string spec = scratch.write("dry.json", R"({"name": "d", "base": "tiny", "grid": {"nl": [0, 2, 4]},
      "budget": {"steps": 10}, "batch": 8, "inputs_length": 64, "targets_length": 14,
      "data": {"source": "synthetic"}})");
  const CommandResult r = t5scale(fmt::format("sweep {} --dry-run --assume-gflops 100", spec));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const Shape nl2 = parse_shape_name("tiny-nl2");
  const Lengths len{64, 14, 8};
  EXPECT_THAT(r.out, HasSubstr("sweep d: 2 variants (1 skipped)"));
  EXPECT_THAT(r.out, HasSubstr("tiny-nl2-s0"));
  EXPECT_THAT(r.out, HasSubstr(with_commas(count_params(nl2).total)));
  EXPECT_THAT(r.out, HasSubstr(human_count(count_flops(nl2, len).train_per_step)));
  EXPECT_THAT(r.out, HasSubstr("skipped tiny-nl0-s0: nl must be positive, got 0"));
}

TEST(CliSweep, BadSpecIsOneLineNamingFileAndKey) {
  const testing::ScratchDir scratch("t5scale_cli_bad");
  const std::string spec = scratch.write("bad.json", R"({"name": "d", "base": "tiny", "grid": {"nl": [2]},
      "budget": {"steps": 10}, "batch": 8, "inputs_length": 64, "targets_length": 14, "lr": -1,
      "data": {"source": "synthetic"}})");
  const CommandResult r = t5scale(fmt::format("sweep {} --dry-run", spec));
  testing::expect_one_line_error(r, "sweep", "key 'lr'");
  EXPECT_EQ(r.err, fmt::format("t5scale sweep: error: {}: key 'lr' must be greater than 0, got -1\n", spec));
}

TEST(CliSweep, ShippedSpecsParse) {
  for (const auto& entry : fs::directory_iterator(std::string(T5SCALE_SOURCE_DIR) + "/sweeps")) {
    if (entry.path().extension() != ".json") continue;
    const CommandResult r = t5scale(fmt::format("sweep {} --dry-run --assume-gflops 100", entry.path().string()));
    EXPECT_EQ(r.exit_code, 0) << entry.path() << ": " << r.err;
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

  CommandResult r = t5scale(sweep);
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

  r = t5scale(sweep);   // without the flag a failed variant is done
  ASSERT_EQ(r.exit_code, 0) << r.err;
  summary = nlohmann::json::parse(r.out);
  EXPECT_EQ(summary["ran_in_this_process"], 0);
  EXPECT_EQ(summary["failed"], 1);
  EXPECT_EQ(summary["retried"], 0);

  r = t5scale(sweep + " --retry-failed");
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
  r = t5scale(fmt::format("report {} --summary", out));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(x));
}

TEST(CliSweep, RetryFailedWithDryRunIsOneLine) {
  const testing::ScratchDir scratch("t5scale_cli_retry_bad");
  const std::string spec = scratch.write("d.json", R"({"name": "d", "base": "tiny", "grid": {"nl": [2]},
      "budget": {"steps": 10}, "batch": 8, "inputs_length": 64, "targets_length": 14,
      "data": {"source": "synthetic"}})");
  testing::expect_one_line_error(t5scale(fmt::format("sweep {} --dry-run --retry-failed", spec)), "sweep",
                                 "--retry-failed moves records and --dry-run trains nothing");
  testing::expect_one_line_error(t5scale(fmt::format("sweep {} --retry-failed --worker 1", spec)), "sweep",
                                 "--retry-failed is for the first worker only");
}

TEST(CliReport, WritesFilesAndListsThem) {
  const testing::ScratchDir scratch("t5scale_cli_report");
  const std::string out = scratch.path("report");
  const CommandResult r =
      t5scale(fmt::format("report {}/tests/fixtures/results/depth-fixture --out {} --no-plots", T5SCALE_SOURCE_DIR, out));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(out + "/report.md"));
  EXPECT_THAT(r.err, HasSubstr("1 torn line(s)"));
  EXPECT_TRUE(fs::exists(out + "/frontier_step_time.json"));
}

}  // namespace
}  // namespace t5
