// One error type for the whole harness. Errors carry the source place that raised them, a message
// that names the user's input (file, key, position) and, when the fix is known, a hint. They travel
// as exceptions to a boundary (one command, one sweep variant) where they become a record or a clean
// non-zero exit with a single line on stderr.
#pragma once

#include <source_location>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace t5 {

class Error : public std::runtime_error {
 public:
  Error(std::string message, std::string hint = {},
        std::source_location where = std::source_location::current());
  const std::string& message() const { return message_; }
  const std::string& hint() const { return hint_; }
  // "file.cpp:123" of the code that raised the error (for bug reports, not for users).
  const std::string& origin() const { return origin_; }

 private:
  std::string message_;
  std::string hint_;
  std::string origin_;
};

// Throws t5::Error(message) when `condition` is false. Use for user input and file contents.
#define T5_CHECK(condition, ...)                                   \
  do {                                                             \
    if (!(condition)) throw ::t5::Error(::fmt::format(__VA_ARGS__)); \
  } while (0)

// Same, with a hint telling the user how to fix it.
#define T5_CHECK_HINT(condition, hint, ...)                                \
  do {                                                                     \
    if (!(condition)) throw ::t5::Error(::fmt::format(__VA_ARGS__), hint); \
  } while (0)

}  // namespace t5
