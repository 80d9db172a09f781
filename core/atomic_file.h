// Crash-safe file output: every file t5scale writes for others to read (weights, configs, checkpoints)
// goes to a temporary name beside its target, is flushed and fsynced, then renamed over the target,
// so a reader (or a run killed half-way) sees either the old file or the new one, never a torn one.
#pragma once

#include <cstddef>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

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

using FileFill = std::function<void(FileSink&)>;

// Calls `fill` with a sink on `path`.tmp.<pid>, then fsyncs and renames it over `path` and fsyncs the
// directory. On any error the temporary file is removed and `path` is left as it was. Errors name
// `path` (the file the user asked for), not the temporary name.
void write_file_atomic(const std::string& path, const FileFill& fill);
void write_text_atomic(const std::string& path, const std::string& text);
FileFill text_fill(const std::string& text);   // a fill that writes `text`

// Files that belong together (weights and their config.json, weights and optimizer state): every
// one is written complete under its temporary name before any is renamed into place, so an error in
// writing any of them leaves all targets as they were and no temporary behind.
void write_files_atomic(const std::vector<std::pair<std::string, FileFill>>& files);

// fsync on a directory, so a rename inside it survives a crash (best effort on filesystems that
// refuse it).
void fsync_directory(const std::string& dir);

// The directory part of `path` ("." when it has none).
std::string parent_directory(const std::string& path);

}  // namespace t5
