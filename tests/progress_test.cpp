// core/progress.h with made-up clocks, stderr sent to a file (so not a terminal): which steps print a
// line (about 50 per run, at least min_seconds apart, the last always), the rates and ETA against hand
// arithmetic, and nothing at all unless forced.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/progress.h"

namespace t5 {
namespace {

// The stderr lines `body` writes.
template <class Body>
std::vector<std::string> stderr_lines(Body body) {
  const std::string path =
      (std::filesystem::temp_directory_path() / fmt::format("t5scale_progress_{}", ::getpid())).string();
  std::fflush(stderr);
  const int saved = ::dup(STDERR_FILENO);
  EXPECT_NE(std::freopen(path.c_str(), "w", stderr), nullptr);
  body();
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::filesystem::remove(path);
  return lines;
}

TEST(StepProgress, PipedLinesAreSparseAndCarryRatesAndEta) {
  // 1000 steps of 0.1 s and 48 tokens each; at most every 20th step (1000 / 50), 5 s apart.
  const std::vector<std::string> lines = stderr_lines([] {
    StepProgress p(/*forced=*/true, 0, 1000, /*min_seconds=*/5);
    for (int64_t s = 1; s <= 1000; ++s) p.update(s, 0.1 * double(s), 48 * s, "loss 1.5000");
    p.finish();
  });
  // Steps 60, 120, ..., 960 (the first multiples of 20 at least 5 s after the last line) and 1000.
  ASSERT_EQ(lines.size(), 17u);
  EXPECT_EQ(lines[0], "step 60/1000  loss 1.5000  10 steps/s  480 tok/s  ETA 1m34s");   // 940 steps at 0.1 s
  EXPECT_EQ(lines[15], "step 960/1000  loss 1.5000  10 steps/s  480 tok/s  ETA 4s");
  EXPECT_EQ(lines[16], "step 1000/1000  loss 1.5000  10 steps/s  480 tok/s  ETA 0s");
}

TEST(StepProgress, TheUnitNamesWhatIsCounted) {
  // `generate` counts examples: 64 of 200 after 8 s with 512 generated tokens.
  const std::vector<std::string> lines = stderr_lines([] {
    StepProgress p(/*forced=*/true, 0, 200, /*min_seconds=*/0, "example");
    p.update(64, 8.0, 512, "");
  });
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "example 64/200  8 examples/s  64 tok/s  ETA 17s");  // 136 left at 8 a second
}

TEST(StepProgress, ResumedRunCountsItsOwnStepsAndRatesRound) {
  // Resumed at step 100 of 400 (a line every 6th step): 2 steps in 0.8 s is 2.5 steps/s; 1234 steps/s
  // print without an exponent.
  const std::vector<std::string> lines = stderr_lines([] {
    StepProgress slow(true, 100, 400);
    slow.update(101, 0.4, 100, "");   // not a 6th step
    slow.update(102, 0.8, 200, "");
    slow.message("step 102: eval loss 2.0000 over 10 tokens");
    StepProgress fast(true, 0, 3);
    fast.update(3, 3 / 1234.0, 3 * 10, "");
  });
  EXPECT_EQ(lines, (std::vector<std::string>{"step 102/400  2.5 steps/s  250 tok/s  ETA 1m59s",   // 298 x 0.4 s
                                             "step 102: eval loss 2.0000 over 10 tokens",
                                             "step 3/3  1234 steps/s  12340 tok/s  ETA 0s"}));
}

TEST(StepProgress, SilentWhenNotForcedAndNotATerminal) {
  const std::vector<std::string> lines = stderr_lines([] {
    StepProgress p(/*forced=*/false, 0, 2);
    p.update(1, 1.0, 10, "loss 1.0");
    p.message("resumed");
    p.update(2, 2.0, 20, "loss 1.0");
    p.finish();
  });
  EXPECT_TRUE(lines.empty());
}

TEST(StepProgress, DurationText) {
  EXPECT_EQ(format_duration(-3), "0s");
  EXPECT_EQ(format_duration(59.4), "59s");
  EXPECT_EQ(format_duration(187), "3m07s");
  EXPECT_EQ(format_duration(2 * 3600 + 5 * 60 + 20), "2h05m");
  EXPECT_EQ(format_duration(3599.4), "59m59s");  // rounds to 3599 s = 59·60 + 59
  EXPECT_EQ(format_duration(std::nan("")), "?"); // an ETA not known yet
  EXPECT_EQ(format_duration(INFINITY), "?");
}

}  // namespace
}  // namespace t5
