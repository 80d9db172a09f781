// Runs the t5scale binary (T5SCALE_BINARY) as a user does, capturing exit code, stdout and stderr,
// and the check every bad-input path shares: exit 1, nothing on stdout, one line on stderr of the
// form `t5scale CMD: error: ...` (PROTOCOL.md), a scratch directory, and a command started in the
// background for tests that signal it, and reading numbers back from a command's text output. Shared by
// the command tests.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

extern char** environ;

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

// Runs `<prefix> t5scale <args>` (prefix: environment assignments, or an emulator such as
// `qemu-x86_64 -cpu Haswell`) with stdout and stderr captured to temporary files.
inline CommandResult t5scale_under(const std::string& prefix, const std::string& args) {
  namespace fs = std::filesystem;
  static int counter = 0;
  const fs::path base =
      fs::temp_directory_path() / ("t5scale_cli_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  const std::string cmd = prefix + (prefix.empty() ? "" : " ") + std::string(T5SCALE_BINARY) + " " + args + " >" +
                          base.string() + ".out 2>" + base.string() + ".err";
  const int status = std::system(cmd.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(base.string() + ".out");
  r.err = slurp(base.string() + ".err");
  fs::remove(base.string() + ".out");
  fs::remove(base.string() + ".err");
  return r;
}

// Runs `t5scale <args>` as a user does.
inline CommandResult t5scale(const std::string& args) { return t5scale_under("", args); }

// Sets environment variables for the commands this test starts; restores them afterwards.
class ScopedEnv {
 public:
  ScopedEnv(std::initializer_list<std::pair<std::string, std::string>> vars) {
    for (const auto& [name, value] : vars) {
      const char* old = std::getenv(name.c_str());
      saved_.push_back({name, old ? std::optional<std::string>(old) : std::nullopt});
      setenv(name.c_str(), value.c_str(), 1);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    for (const auto& [name, old] : saved_)
      if (old) setenv(name.c_str(), old->c_str(), 1);
      else unsetenv(name.c_str());
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// `t5scale <args>` started without waiting (no shell: args as given), stdout and stderr to files, so
// a test can signal it while it runs. Killed and reaped if the test ends before wait().
class RunningCommand {
 public:
  explicit RunningCommand(const std::vector<std::string>& args)
      : base_(std::filesystem::temp_directory_path() /
              ("t5scale_bg_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++))) {
    std::vector<std::string> all = {T5SCALE_BINARY};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t files;
    posix_spawn_file_actions_init(&files);
    posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, (base_.string() + ".out").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&files, STDERR_FILENO, (base_.string() + ".err").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int rc = ::posix_spawn(&pid_, all[0].c_str(), &files, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&files);
    if (rc != 0) pid_ = -1;
  }
  ~RunningCommand() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }
  RunningCommand(const RunningCommand&) = delete;
  RunningCommand& operator=(const RunningCommand&) = delete;
  pid_t pid() const { return pid_; }
  // Waits for the exit; a death by a signal is 128 + the signal, as a shell reports it.
  CommandResult wait() {
    CommandResult r;
    int status = 0;
    while (pid_ > 0 && ::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
    pid_ = -1;
    r.out = slurp(base_.string() + ".out");
    r.err = slurp(base_.string() + ".err");
    std::filesystem::remove(base_.string() + ".out");
    std::filesystem::remove(base_.string() + ".err");
    return r;
  }

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::filesystem::path base_;
  pid_t pid_ = -1;
};

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

// The step of the last "step" line of a steps log (sweep steps/<id>.jsonl, train --json-out; 0 if none yet).
inline int64_t last_logged_step(const std::string& path) {
  std::ifstream in(path);
  int64_t last = 0;
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.value("type", "") == "step") last = j["step"].get<int64_t>();
  }
  return last;
}

// Waits (up to 20 s) until every steps log in `paths` shows a step; false if the time ran out.
inline bool wait_for_steps(const std::vector<std::string>& paths) {
  for (int i = 0; i < 2000; ++i) {
    if (std::all_of(paths.begin(), paths.end(), [](const std::string& p) { return last_logged_step(p) > 0; }))
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

inline int lines(const std::string& text) { return int(std::count(text.begin(), text.end(), '\n')); }

inline void expect_one_line_error(const CommandResult& r, const std::string& command, const std::string& what) {
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_THAT(r.err, ::testing::StartsWith("t5scale " + command + ": error: "));
  EXPECT_THAT(r.err, ::testing::HasSubstr(what));
}

// The numbers after the first occurrence of `label` in `text`, up to the end of that line: words that
// start with a digit, or "(" and a digit; a unit glued after the number is dropped ("8.52G" reads 8.52,
// "55.2%" 55.2, "(0.98)" 0.98); "fp32" and "(ratio" are skipped.
inline std::vector<double> numbers_after(const std::string& text, const std::string& label) {
  const size_t at = text.find(label);
  if (at == std::string::npos) return {};
  const size_t begin = at + label.size();
  std::istringstream in(text.substr(begin, text.find('\n', begin) - begin));
  std::vector<double> out;
  for (std::string w; in >> w;) {
    const size_t start = w.find_first_of("0123456789");
    if (start == std::string::npos || (start > 0 && w[start - 1] != '(')) continue;
    out.push_back(std::strtod(w.c_str() + start, nullptr));
  }
  return out;
}

// Whether `shown`, printed to within ± shown_unit, can be a / b for a and b printed to within ± ua and ± ub:
// a derived number against the printed numbers it comes from.
inline bool within_rounding(double shown, double shown_unit, double a, double ua, double b, double ub) {
  const double lo = (a - ua) / (b + ub), hi = b - ub > 0 ? (a + ua) / (b - ub) : 1e300;
  return shown + shown_unit >= lo && shown - shown_unit <= hi;
}

}  // namespace t5::testing
