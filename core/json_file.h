// Reading JSON files that users write or hand us (shape configs, batch files, checkpoint state):
// every failure is one t5::Error naming the file and, for a syntax error, the line and column
// (`batch.json:3:17: invalid JSON: ...`). nlohmann's own exceptions never reach the user: a number
// too large for a double (1e999) is an out_of_range, not a parse_error, and is caught here too.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace t5 {

// nlohmann's exception message without its "[json.exception.parse_error.101] parse error at line 2,
// column 1: " prefix (callers give the place themselves), bytes that are not printable ASCII shown as
// \xNN so a damaged binary file cannot put raw bytes on the user's terminal.
std::string json_error_text(const std::string& what);

// Parses `text`; `where` names its source in errors (a path).
nlohmann::json parse_json_text(const std::string& text, const std::string& where);

// Reads and parses the file at `path`; a missing or unreadable file is an error naming it.
nlohmann::json read_json_file(const std::string& path);

}  // namespace t5
