#include "core/error.h"

#include <filesystem>

namespace t5 {

namespace {
std::string compose(const std::string& message, const std::string& hint) {
  return hint.empty() ? message : message + " (hint: " + hint + ")";
}
}  // namespace

Error::Error(std::string message, std::string hint, std::source_location where)
    : std::runtime_error(compose(message, hint)),
      message_(std::move(message)),
      hint_(std::move(hint)),
      origin_(fmt::format("{}:{}", std::filesystem::path(where.file_name()).filename().string(),
                          where.line())) {}

}  // namespace t5
