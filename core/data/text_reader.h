// Streams documents from C4-layout shards (*.json.gz, one {"text", "timestamp", "url"} a line),
// *.jsonl and plain *.txt files (documents separated by blank lines), in a deterministic file order.
// A place in the stream is (file index, line): the next document starts at that 0-based line.
// Bad data (malformed JSON, missing "text", invalid UTF-8, truncated gzip) is counted with its
// file:line; the policy decides whether the run goes on (skip) or stops with a t5::Error.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace t5 {

enum class BadDataPolicy { skip, stop };   // skip: count, report file:line, go on; stop: t5::Error

// "skip" | "stop" (the --on-bad-data option); anything else is a t5::Error naming the option.
BadDataPolicy parse_bad_data_policy(const std::string& text);

// Shard files of `split` under a C4-layout directory (DIR/en/c4-SPLIT.* or DIR/c4-SPLIT.*; a plain
// directory falls back to files whose names contain SPLIT), or the one file given. Sorted; throws
// t5::Error when nothing matches.
std::vector<std::string> list_corpus_files(const std::string& path, const std::string& split);

bool is_valid_utf8(std::string_view s);

struct ReaderPlace {
  int64_t file = 0;
  int64_t line = 0;
};

struct Document {
  std::string text;
  ReaderPlace place;
};

struct BadDataCounts {
  int64_t malformed_json = 0;
  int64_t missing_text = 0;
  int64_t invalid_utf8 = 0;
  int64_t truncated_gzip = 0;   // each counted once, however many epochs read the line
  std::vector<std::string> first_reports;   // up to 20 "file:line: what" lines
  int64_t total() const { return malformed_json + missing_text + invalid_utf8 + truncated_gzip; }
};

// What the skip policy tells the user on stderr, the same for every command reading data:
// "<label>: N bad lines skipped (malformed JSON a, ...):" and the first reports indented, one a line;
// empty when nothing was bad.
std::string bad_data_report(const std::string& label, const BadDataCounts& counts);

class DocumentReader {
 public:
  DocumentReader(std::vector<std::string> files, BadDataPolicy policy);
  ~DocumentReader();
  // Next document; false after the last file.
  bool next(Document& doc);
  ReaderPlace place() const { return place_; }
  void seek(ReaderPlace place);   // reopens the file and skips lines (gzip has no random access)
  const std::vector<std::string>& files() const { return files_; }
  const BadDataCounts& bad_data() const { return bad_; }

 private:
  class LineFile;
  bool open_current();
  void report(int64_t& counter, int64_t line, std::string_view what, std::string_view hint);
  bool next_line(std::string& line);   // false at end of the current file

  std::vector<std::string> files_;
  BadDataPolicy policy_;
  ReaderPlace place_;
  std::unique_ptr<LineFile> current_;
  BadDataCounts bad_;
  std::pair<int64_t, int64_t> last_report_{-1, -1};   // (file, line) of the furthest bad line counted
};

}  // namespace t5
