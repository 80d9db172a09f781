// Runs the t5scale binary (T5SCALE_BINARY) as a user does, capturing exit code, stdout and stderr,
// and the check every bad-input path shares: exit 1, nothing on stdout, one line on stderr of the
// form `t5scale CMD: error: ...` (PROTOCOL.md), and a scratch directory. Shared by the command tests.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace t5::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out, err;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `t5scale <args>` with stdout and stderr captured to temporary files.
inline CommandResult t5scale(const std::string& args) {
  namespace fs = std::filesystem;
  static int counter = 0;
  const fs::path base =
      fs::temp_directory_path() / ("t5scale_cli_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  const std::string cmd = std::string(T5SCALE_BINARY) + " " + args + " >" + base.string() + ".out 2>" +
                          base.string() + ".err";
  const int status = std::system(cmd.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(base.string() + ".out");
  r.err = slurp(base.string() + ".err");
  fs::remove(base.string() + ".out");
  fs::remove(base.string() + ".err");
  return r;
}

// A fresh directory under the system's temporary directory (name + pid), removed with the object.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name)
      : dir_(std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& dir() const { return dir_; }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  // Writes `text` to `name` in the directory; returns its path.
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path(name), std::ios::binary) << text;
    return path(name);
  }

 private:
  std::filesystem::path dir_;
};

inline int lines(const std::string& text) { return int(std::count(text.begin(), text.end(), '\n')); }

inline void expect_one_line_error(const CommandResult& r, const std::string& command, const std::string& what) {
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_THAT(r.err, ::testing::StartsWith("t5scale " + command + ": error: "));
  EXPECT_THAT(r.err, ::testing::HasSubstr(what));
}

}  // namespace t5::testing
