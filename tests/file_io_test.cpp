// The two file helpers every command's input and output goes through: read_json_file (one error line
// naming the file, line and column; nlohmann's exceptions never escape) and write_files_atomic
// (several files that belong together: all written in full before any lands, nothing left behind).
#include <filesystem>
#include <fstream>

#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json_file.h"
#include "tests/cli_runner.h"

namespace t5 {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

class FileIo : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return scratch_.path(name); }
  std::string write(const std::string& name, const std::string& text) const { return scratch_.write(name, text); }
  // The message of the t5::Error that `f` throws ("" when it throws none).
  template <typename F>
  static std::string error_of(F f) {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(scratch_.dir())) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  testing::ScratchDir scratch_{"t5scale-file-io"};
  const std::string dir_ = scratch_.dir().string();
};

TEST_F(FileIo, JsonSyntaxErrorsNameLineAndColumn) {
  // Line 3, column 8 is the '}' where a value should be (two spaces, "y", colon, space: counted by hand).
  const std::string p = write("a.json", "{\n  \"x\": 1,\n  \"y\": }\n");
  EXPECT_EQ(error_of([&] { read_json_file(p); }),
            p + ":3:8: invalid JSON: syntax error while parsing value - unexpected '}'; expected '[', '{', or a "
                "literal");
  const std::string truncated = write("b.json", "{\"input_ids\": [[1, 2]");
  EXPECT_THAT(error_of([&] { read_json_file(truncated); }),
              ::testing::StartsWith(truncated + ":1:22: invalid JSON: syntax error while parsing array - unexpected "
                                                "end of input"));
  const std::string empty = write("c.json", "");
  EXPECT_THAT(error_of([&] { read_json_file(empty); }), HasSubstr(empty + ":1:1: invalid JSON: "));
}

TEST_F(FileIo, JsonOverflowBinaryMissingAndDirectoryAreErrorsNotCrashes) {
  // 1e999 overflows a double: nlohmann throws out_of_range, not parse_error.
  const std::string big = write("big.json", "{\"d_model\": 1e999}");
  EXPECT_EQ(error_of([&] { read_json_file(big); }), big + ": invalid JSON: number overflow parsing '1e999'");
  // Bytes that are not printable ASCII are shown escaped, never raw on the terminal.
  const std::string bin = write("bin.json", "\xff\xfe{}");
  const std::string message = error_of([&] { read_json_file(bin); });
  EXPECT_THAT(message, HasSubstr(bin + ":1:1: invalid JSON: "));
  EXPECT_THAT(message, HasSubstr("\\xff"));
  EXPECT_THAT(message, Not(HasSubstr("\xff")));
  EXPECT_EQ(error_of([&] { read_json_file(path("absent.json")); }),
            path("absent.json") + ": cannot open: No such file or directory (hint: check the path)");
  EXPECT_EQ(error_of([&] { read_json_file(dir_); }), dir_ + ": is a directory, not a JSON file");
  EXPECT_EQ(read_json_file(write("ok.json", "{\"a\": [1, 2]}"))["a"][1], 2);
}

TEST_F(FileIo, FileSetLandsWholeOrLeavesOldFilesAndNoTemporaries) {
  const std::string a = write("a.txt", "old a");
  const std::string b = write("b.txt", "old b");
  write_files_atomic({{a, text_fill("new a")}, {b, text_fill("new b")}});
  EXPECT_EQ(testing::slurp(a), "new a");
  EXPECT_EQ(testing::slurp(b), "new b");

  // The second file cannot be written: the first keeps its old content.
  const std::string blocked = path("blocked");
  fs::create_directories(blocked);
  EXPECT_EQ(error_of([&] { write_files_atomic({{a, text_fill("newer a")}, {blocked, text_fill("x")}}); }),
            blocked + ": is a directory, not a file");
  EXPECT_EQ(testing::slurp(a), "new a");
  // A fill that fails half-way: neither target changes.
  const auto failing = [](FileSink& sink) {
    sink.write("partial", 7);
    throw Error("disk full (simulated)");
  };
  EXPECT_EQ(error_of([&] { write_files_atomic({{a, text_fill("newer a")}, {b, failing}}); }), "disk full (simulated)");
  EXPECT_EQ(testing::slurp(a), "new a");
  EXPECT_EQ(testing::slurp(b), "new b");
  EXPECT_EQ(entries(), (std::vector<std::string>{"a.txt", "b.txt", "blocked"}));
}

TEST_F(FileIo, WriteErrorNamesTheTargetNotTheTemporary) {
  const std::string target = path("missing/out.safetensors");
  const std::string message = error_of([&] { write_text_atomic(target, "x"); });
  EXPECT_EQ(message, target + ": cannot create: No such file or directory (hint: check that the directory exists "
                              "and is writable)");
  EXPECT_THAT(message, Not(HasSubstr(".tmp.")));
}

// A pid no process has: a child that has exited and been reaped (the kernel hands pids out in
// increasing order, so it is not reused within the test).
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

// A process killed (kill -9, power cut) while writing leaves TARGET.tmp.<its pid>: the next write of
// TARGET removes it; a temporary of a process still alive (another writer) is left alone. (Left
// behind for good: steps/<id>.jsonl.tmp.<pid> of a sweep killed while starting a variant, etc.)
TEST_F(FileIo, AWriteRemovesTheTemporariesOfKilledWriters) {
  const std::string target = path("steps.jsonl");
  const pid_t dead = dead_pid();
  write(fmt::format("steps.jsonl.tmp.{}", dead), "torn");
  write("steps.jsonl.tmp.1", "a live process's (pid 1)");
  write("steps.jsonl.tmp.notapid", "not ours");
  write(fmt::format("other.jsonl.tmp.{}", dead), "another target's");
  write_text_atomic(target, "whole\n");
  EXPECT_EQ(testing::slurp(target), "whole\n");
  EXPECT_EQ(entries(), (std::vector<std::string>{fmt::format("other.jsonl.tmp.{}", dead), "steps.jsonl",
                                                 "steps.jsonl.tmp.1", "steps.jsonl.tmp.notapid"}));
}

}  // namespace
}  // namespace t5
