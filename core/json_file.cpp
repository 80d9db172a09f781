#include "core/json_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace t5 {

namespace {

// nlohmann's message without its "[json.exception.parse_error.101] parse error at line 2, column 1: "
// prefix (we give the place ourselves), with bytes that are not printable ASCII shown as \xNN so a
// binary file cannot put raw bytes on the user's terminal.
std::string reason(const std::string& what) {
  std::string text = what;
  const size_t column = text.find(", column ");
  const size_t colon = column == std::string::npos ? std::string::npos : text.find(": ", column);
  if (colon != std::string::npos) {
    text = text.substr(colon + 2);
  } else if (const size_t bracket = text.find("] "); bracket != std::string::npos) {
    text = text.substr(bracket + 2);
  }
  std::string clean;
  for (const unsigned char c : text) {
    if (c >= 0x20 && c < 0x7f) clean += char(c);
    else clean += fmt::format("\\x{:02x}", c);
  }
  return clean;
}

// Line and column (both from 1) of the byte that stopped the parser; nlohmann counts `byte` from 1.
std::pair<size_t, size_t> line_and_column(const std::string& text, size_t byte) {
  const size_t end = std::min(byte == 0 ? 0 : byte - 1, text.size());
  size_t line = 1, column = 1;
  for (size_t i = 0; i < end; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

}  // namespace

nlohmann::json parse_json_text(const std::string& text, const std::string& where) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    const auto [line, column] = line_and_column(text, e.byte);
    throw Error(fmt::format("{}:{}:{}: invalid JSON: {}", where, line, column, reason(e.what())));
  } catch (const nlohmann::json::exception& e) {   // e.g. number overflow: not a parse_error
    throw Error(fmt::format("{}: invalid JSON: {}", where, reason(e.what())));
  }
}

nlohmann::json read_json_file(const std::string& path) {
  T5_CHECK(!std::filesystem::is_directory(path), "{}: is a directory, not a JSON file", path);
  std::ifstream in(path, std::ios::binary);
  T5_CHECK_HINT(in.good(), "check the path", "{}: cannot open: {}", path, std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  T5_CHECK(!in.bad(), "{}: read failed: {}", path, std::strerror(errno));
  return parse_json_text(text.str(), path);
}

}  // namespace t5
