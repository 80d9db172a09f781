#include "core/json_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <vector>

#include "core/error.h"

namespace t5 {

namespace {

}  // namespace

std::string json_error_text(const std::string& what) {
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

namespace {

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

// Rejects a key written twice in one object: nlohmann keeps the last value silently, so a spec with
// "lr" twice or a config with two "num_layers" would run with whichever came last. Keys are tracked
// per open object; the message names the key's path through the enclosing objects ("budget.steps").
class DuplicateKeyCheck {
 public:
  explicit DuplicateKeyCheck(const std::string& where) : where_(where) {}
  bool operator()(int /*depth*/, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start || event == Event::array_start) {
      levels_.push_back({event == Event::object_start, {}, {}});
    } else if (event == Event::object_end || event == Event::array_end) {
      levels_.pop_back();
    } else if (event == Event::key) {
      Level& level = levels_.back();
      level.last_key = parsed.get<std::string>();
      T5_CHECK_HINT(level.keys.insert(level.last_key).second, "give each key once",
                    "{}: key '{}' appears twice in one object", where_, path());
    }
    return true;
  }

 private:
  struct Level {
    bool object = false;
    std::set<std::string> keys;
    std::string last_key;
  };
  std::string path() const {
    std::string out;
    for (const Level& l : levels_)
      if (l.object) out += (out.empty() ? "" : ".") + l.last_key;
    return out;
  }
  std::string where_;
  std::vector<Level> levels_;
};

nlohmann::json parse_json_text(const std::string& text, const std::string& where) {
  try {
    DuplicateKeyCheck check(where);
    return nlohmann::json::parse(text, std::ref(check));
  } catch (const nlohmann::json::parse_error& e) {
    const auto [line, column] = line_and_column(text, e.byte);
    throw Error(fmt::format("{}:{}:{}: invalid JSON: {}", where, line, column, json_error_text(e.what())));
  } catch (const nlohmann::json::exception& e) {   // e.g. number overflow: not a parse_error
    throw Error(fmt::format("{}: invalid JSON: {}", where, json_error_text(e.what())));
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
