// Temporary file + fsync + rename (POSIX rename is atomic within one filesystem).
#include "core/atomic_file.h"

#include <fcntl.h>
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

void write_file_atomic(const std::string& path, const std::function<void(FileSink&)>& fill) {
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  std::FILE* file = std::fopen(tmp.c_str(), "wb");
  T5_CHECK_HINT(file != nullptr, "check that the directory exists and is writable", "{}: cannot create: {}",
                tmp, std::strerror(errno));
  try {
    FileSink sink(file, path);
    fill(sink);
    T5_CHECK(std::fflush(file) == 0, "{}: write failed: {}", path, std::strerror(errno));
    T5_CHECK(::fsync(::fileno(file)) == 0, "{}: fsync failed: {}", path, std::strerror(errno));
    const int closed = std::fclose(file);
    file = nullptr;
    T5_CHECK(closed == 0, "{}: close failed: {}", path, std::strerror(errno));
    T5_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "{}: cannot rename {} over it: {}", path, tmp,
             std::strerror(errno));
  } catch (...) {
    if (file != nullptr) std::fclose(file);
    std::remove(tmp.c_str());
    throw;
  }
  fsync_directory(parent_directory(path));
}

void write_text_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, [&](FileSink& sink) { sink.write(text.data(), text.size()); });
}

}  // namespace t5
