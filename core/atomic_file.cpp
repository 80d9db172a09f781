// Temporary file + fsync + rename (POSIX rename is atomic within one filesystem).
#include "core/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace t5 {

void FileSink::write(const void* data, size_t bytes) {
  if (bytes == 0) return;
  T5_CHECK(std::fwrite(data, 1, bytes, file_) == bytes, "{}: write failed: {}", path_, std::strerror(errno));
}

std::string parent_directory(const std::string& path) {
  const std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

void fsync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);   // some filesystems refuse fsync on directories; the rename itself is still atomic
  ::close(fd);
}

namespace {

// Removes `path`.tmp.<pid> files whose process is gone: a writer killed (kill -9, power cut) between
// creating its temporary and the rename leaves one, which nothing else would ever remove. A live
// writer's temporary (kill(pid, 0) does not say ESRCH) is left alone. Best effort: errors are ignored.
void remove_dead_temporaries(const std::string& path) {
  namespace fs = std::filesystem;
  const std::string prefix = fs::path(path).filename().string() + ".tmp.";
  std::error_code ec;
  for (fs::directory_iterator it(parent_directory(path), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = pid_t(std::stol(digits));
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) {
      std::error_code ignored;
      fs::remove(it->path(), ignored);
    }
  }
}

// Writes `fill` to `path`.tmp.<pid>, flushed, fsynced and closed; returns the temporary name. On
// an error the temporary file is removed.
std::string write_temporary(const std::string& path, const FileFill& fill) {
  // The rename would fail only after the data is written (and, for a set, after others landed).
  T5_CHECK(!std::filesystem::is_directory(path), "{}: is a directory, not a file", path);
  remove_dead_temporaries(path);
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  std::FILE* file = std::fopen(tmp.c_str(), "wb");
  T5_CHECK_HINT(file != nullptr, "check that the directory exists and is writable", "{}: cannot create: {}", path,
                std::strerror(errno));
  try {
    FileSink sink(file, path);
    fill(sink);
    T5_CHECK(std::fflush(file) == 0, "{}: write failed: {}", path, std::strerror(errno));
    T5_CHECK(::fsync(::fileno(file)) == 0, "{}: fsync failed: {}", path, std::strerror(errno));
    const int closed = std::fclose(file);
    file = nullptr;
    T5_CHECK(closed == 0, "{}: close failed: {}", path, std::strerror(errno));
  } catch (...) {
    if (file != nullptr) std::fclose(file);
    std::remove(tmp.c_str());
    throw;
  }
  return tmp;
}

void rename_into_place(const std::string& tmp, const std::string& path) {
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    std::remove(tmp.c_str());
    throw Error(fmt::format("{}: cannot replace it: {}", path, std::strerror(error)));
  }
  fsync_directory(parent_directory(path));
}

}  // namespace

void write_file_atomic(const std::string& path, const FileFill& fill) {
  rename_into_place(write_temporary(path, fill), path);
}

FileFill text_fill(const std::string& text) {
  return [text](FileSink& sink) { sink.write(text.data(), text.size()); };
}

void write_text_atomic(const std::string& path, const std::string& text) { write_file_atomic(path, text_fill(text)); }

void write_files_atomic(const std::vector<std::pair<std::string, FileFill>>& files) {
  std::vector<std::string> written;
  try {
    for (const auto& [path, fill] : files) written.push_back(write_temporary(path, fill));
  } catch (...) {
    for (const std::string& tmp : written) std::remove(tmp.c_str());
    throw;
  }
  // Every file is complete on disk; renames within a directory do not fail for want of space.
  for (size_t i = 0; i < files.size(); ++i) {
    try {
      rename_into_place(written[i], files[i].first);
    } catch (...) {
      for (size_t j = i + 1; j < files.size(); ++j) std::remove(written[j].c_str());
      throw;
    }
  }
}

}  // namespace t5
