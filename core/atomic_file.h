// Crash-safe file output: every file t5scale writes for others to read (weights, configs, checkpoints)
// goes to a temporary name beside its target, is flushed and fsynced, then renamed over the target,
// so a reader (or a run killed half-way) sees either the old file or the new one, never a torn one.
#pragma once

#include <cstddef>
#include <cstdio>
#include <functional>
#include <string>

namespace t5 {

// Sink handed to the writer callback of write_file_atomic.
class FileSink {
 public:
  FileSink(std::FILE* file, std::string path) : file_(file), path_(std::move(path)) {}
  void write(const void* data, size_t bytes);   // throws t5::Error naming the file on a short write
  const std::string& path() const { return path_; }   // the final path, for error messages

 private:
  std::FILE* file_;
  std::string path_;
};

// Calls `fill` with a sink on `path`.tmp.<pid>, then fsyncs and renames it over `path` and fsyncs the
// directory. On any error the temporary file is removed and `path` is left as it was.
void write_file_atomic(const std::string& path, const std::function<void(FileSink&)>& fill);
void write_text_atomic(const std::string& path, const std::string& text);

// fsync on a directory, so a rename inside it survives a crash (best effort on filesystems that
// refuse it).
void fsync_directory(const std::string& dir);

// The directory part of `path` ("." when it has none).
std::string parent_directory(const std::string& path);

}  // namespace t5
