// The Slurm side of a sweep: the batch script, sbatch, squeue and scontrol (see slurm.h).
#include "cluster/slurm.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>

#include <fcntl.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"

extern char** environ;

namespace t5 {

namespace {

namespace fs = std::filesystem;

// A word as bash reads it back: as it is when it holds only characters the shell takes literally,
// else single-quoted (every byte literal, a quote inside written '\'').
std::string shell_quote(const std::string& word) {
  if (!word.empty() && word.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@%+=:,./-") ==
                           std::string::npos)
    return word;
  std::string q = "'";
  for (char c : word) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// A path on an #SBATCH line: sbatch splits those lines at whitespace and its quoting there is its own.
const std::string& sbatch_line_path(const std::string& what, const std::string& path) {
  T5_CHECK_HINT(path.find_first_of(" \t\n'\"\\") == std::string::npos, "use a directory whose path has none",
                "--slurm: {} '{}' holds whitespace or a quote, which an #SBATCH line cannot carry", what, path);
  return path;
}

// The whole content of an in-memory file written by a child.
std::string read_back(int fd) {
  std::string text;
  char buffer[4096];
  ssize_t n = 0;
  off_t at = 0;
  while ((n = ::pread(fd, buffer, sizeof buffer, at)) > 0) {
    text.append(buffer, size_t(n));
    at += n;
  }
  return text;
}

// The lines of `text` joined with "; ", so a program's message fits our one-line error.
std::string one_line(const std::string& text) {
  std::string out, line;
  std::istringstream in(text);
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    out += (out.empty() ? "" : "; ") + line;
  }
  return out;
}

// Key=Value fields of one `scontrol show job -o` line (values with spaces, such as a comment, are
// cut at the space; the fields read here have none). The first occurrence of a key wins.
std::map<std::string, std::string> scontrol_fields(const std::string& line) {
  std::map<std::string, std::string> fields;
  std::istringstream in(line);
  std::string word;
  while (in >> word) {
    const size_t eq = word.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    fields.emplace(word.substr(0, eq), word.substr(eq + 1));
  }
  return fields;
}

}  // namespace

SlurmLayout slurm_layout(const std::string& results_dir) { return SlurmLayout{results_dir + "/slurm"}; }

std::string sbatch_script(const SlurmArray& a) {
  T5_CHECK(a.tasks >= 1, "--tasks must be at least 1, got {}", a.tasks);
  T5_CHECK(a.threads >= 1, "--threads must be at least 1, got {}", a.threads);
  const SlurmLayout layout = slurm_layout(a.out_dir);
  std::vector<std::string> quoted;
  for (const std::string& arg : a.sbatch_args) quoted.push_back(shell_quote(arg));
  std::string s;
  s += "#!/bin/bash\n";
  s += fmt::format("# Sweep {} on Slurm, written by `t5scale sweep --slurm` (cluster/slurm.h); rerun that command\n"
                   "# to submit again rather than editing this file.\n",
                   a.sweep_name);
  s += "# Every task of this array is one more worker of the sweep on the shared results directory. Workers\n"
       "# claim variants through file locks (" + a.out_dir + "/locks), so the tasks split the variants; a\n"
       "# requeued or resubmitted array skips the variants that have a record and resumes the others from\n"
       "# their checkpoints. The shell execs the worker, so Slurm's SIGTERM (scancel, preemption, the time\n"
       "# limit, and --signal below before it) reaches the worker itself: it checkpoints its variant at the\n"
       "# end of the step in flight and exits 130.\n";
  s += fmt::format("# Submitted as: sbatch --parsable{}{} {}\n", quoted.empty() ? "" : " ", fmt::join(quoted, " "),
                   layout.script());
  s += fmt::format("#SBATCH --job-name=t5scale-{}\n", a.sweep_name);
  s += fmt::format("#SBATCH --array=0-{}\n", a.tasks - 1);
  s += "#SBATCH --ntasks=1\n";
  s += fmt::format("#SBATCH --cpus-per-task={}\n", a.threads);
  s += fmt::format("#SBATCH --chdir={}\n", sbatch_line_path("the working directory", a.workdir));
  s += fmt::format("#SBATCH --output={}/%A_%a.out\n", sbatch_line_path("the results directory", layout.logs()));
  s += "#SBATCH --open-mode=append\n";   // a requeued task adds to its log
  s += fmt::format("#SBATCH --signal=B:TERM@{}\n", kSlurmSignalSeconds);
  s += "#SBATCH --requeue\n";
  s += fmt::format("exec {} sweep {} --out {} --threads \"${{SLURM_CPUS_PER_TASK:-{}}}\"{}\n", shell_quote(a.binary),
                   shell_quote(a.spec_path), shell_quote(a.out_dir), a.threads,
                   a.keep_checkpoints ? " --keep-checkpoints" : "");
  return s;
}

std::vector<std::string> split_sbatch_args(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quote != 0) {
      if (c == quote) quote = 0;
      else if (c == '\\' && quote == '"' && i + 1 < text.size()) word += text[++i];
      else word += c;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(word);
      word.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '\'' || c == '"') quote = c;
    else if (c == '\\' && i + 1 < text.size()) word += text[++i];
    else word += c;
  }
  T5_CHECK(quote == 0, "--sbatch: unbalanced {} quote in '{}'", quote == '"' ? "double" : "single", text);
  if (in_word) words.push_back(word);
  for (const std::string& w : words) {
    const std::string name = w.substr(0, w.find('='));
    T5_CHECK_HINT(name != "--array" && name != "-a" && !(name.starts_with("-a") && !name.starts_with("--")),
                  "use --tasks N for the number of tasks", "--sbatch: '{}': the script sets the array itself", w);
    T5_CHECK(name != "--wrap" && name != "--parsable", "--sbatch: '{}': t5scale submits its own script with --parsable",
             w);
  }
  return words;
}

std::string find_on_path(const std::string& program) {
  if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0 ? program : "";
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const fs::path candidate = fs::path(dir.empty() ? "." : dir) / program;
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0)
      return fs::absolute(candidate).string();
  }
  return "";
}

ProgramResult run_program(const std::vector<std::string>& argv) {
  T5_CHECK(!argv.empty(), "run_program: no program");
  ProgramResult r;
  // stdout and stderr into in-memory files: no pipe to drain while waiting, whatever they print.
  const int out = ::memfd_create("stdout", MFD_CLOEXEC), err = ::memfd_create("stderr", MFD_CLOEXEC);
  T5_CHECK(out >= 0 && err >= 0, "{}: cannot capture its output: {}", argv[0], std::strerror(errno));
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&files, out, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&files, err, STDERR_FILENO);
  std::vector<std::string> args = argv;
  std::vector<char*> c_args;
  for (auto& a : args) c_args.push_back(a.data());
  c_args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, c_args[0], &files, nullptr, c_args.data(), environ);
  posix_spawn_file_actions_destroy(&files);
  if (rc != 0) {
    ::close(out);
    ::close(err);
    r.exit_code = 127;
    r.err = fmt::format("{}: cannot start: {}", argv[0], std::strerror(rc));
    return r;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
  r.out = read_back(out);
  r.err = read_back(err);
  ::close(out);
  ::close(err);
  return r;
}

std::string find_sbatch() {
  const std::string sbatch = find_on_path("sbatch");
  T5_CHECK_HINT(!sbatch.empty(), "submit from a Slurm login node, or install slurm-client",
                "--slurm: sbatch not found on PATH");
  return sbatch;
}

std::string submit_batch(const std::string& script_path, const std::vector<std::string>& sbatch_args) {
  std::vector<std::string> argv = {find_sbatch(), "--parsable"};
  argv.insert(argv.end(), sbatch_args.begin(), sbatch_args.end());
  argv.push_back(script_path);
  const ProgramResult r = run_program(argv);
  const std::string message = one_line(r.err);
  T5_CHECK(r.exit_code == 0, "--slurm: sbatch failed (exit {}){}{}", r.exit_code, message.empty() ? "" : ": ", message);
  // --parsable prints "<job id>" or "<job id>;<cluster>".
  std::string id = one_line(r.out);
  id = id.substr(0, id.find(';'));
  T5_CHECK(!id.empty() && id.find_first_not_of("0123456789") == std::string::npos,
           "--slurm: sbatch printed no job id (stdout '{}'{}{})", one_line(r.out), message.empty() ? "" : ", stderr: ",
           message);
  return id;
}

SlurmJobState query_slurm_job(const std::string& job_id) {
  SlurmJobState s;
  s.job_id = job_id;
  const std::string squeue = find_on_path("squeue");
  if (squeue.empty()) {
    s.note = "squeue not found on PATH";
    return s;
  }
  // One line per task, pending ones too (-r); %R: the node list when running, the reason when pending.
  const ProgramResult q = run_program({squeue, "--noheader", "--array", "--jobs", job_id, "--format", "%i|%T|%R"});
  const bool forgotten = q.err.find("Invalid job id") != std::string::npos;
  if (q.exit_code != 0 && !forgotten) {
    s.note = fmt::format("squeue failed (exit {}): {}", q.exit_code, one_line(q.err));
    return s;
  }
  std::istringstream lines(q.out);
  for (std::string line; std::getline(lines, line);) {
    const size_t a = line.find('|'), b = line.find('|', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string detail = line.substr(b + 1);   // a pending task's reason comes in parentheses: "(Resources)"
    if (detail.size() >= 2 && detail.front() == '(' && detail.back() == ')') detail = detail.substr(1, detail.size() - 2);
    s.tasks.push_back({line.substr(0, a), line.substr(a + 1, b - a - 1), detail});
  }
  if (!s.tasks.empty()) {
    s.known = true;
    return s;
  }
  // Nothing queued: the tasks ended. slurmctld keeps them for MinJobAge after.
  const std::string scontrol = find_on_path("scontrol");
  const ProgramResult c = scontrol.empty() ? ProgramResult{127, "", "scontrol not found on PATH"}
                                           : run_program({scontrol, "--oneliner", "show", "job", job_id});
  if (c.exit_code != 0) {
    s.note = c.err.find("Invalid job id") != std::string::npos
                 ? "not known to slurmctld any more (it ended; slurmctld forgets finished jobs after MinJobAge)"
                 : fmt::format("scontrol failed (exit {}): {}", c.exit_code, one_line(c.err));
    return s;
  }
  std::istringstream records(c.out);
  for (std::string line; std::getline(records, line);) {
    auto f = scontrol_fields(line);
    if (!f.count("JobState")) continue;
    const std::string id = f.count("ArrayTaskId") ? f["ArrayJobId"] + "_" + f["ArrayTaskId"] : f["JobId"];
    s.tasks.push_back({id, f["JobState"], "exit " + f["ExitCode"]});
  }
  s.known = true;
  return s;
}

}  // namespace t5
