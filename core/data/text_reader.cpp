// Document reader over C4 shards and plain files; zlib's gz* functions read gzip and plain files alike
// and report a member cut short as Z_BUF_ERROR at its end.
#include "core/data/text_reader.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace t5 {
namespace fs = std::filesystem;

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool is_corpus_file(const std::string& name) {
  for (const char* ext : {".json.gz", ".jsonl", ".jsonl.gz", ".json", ".txt", ".txt.gz"})
    if (ends_with(name, ext)) return true;
  return false;
}

bool is_plain_text(const std::string& path) { return ends_with(path, ".txt") || ends_with(path, ".txt.gz"); }

std::vector<std::string> matching_files(const fs::path& dir, const std::string& must_contain) {
  std::vector<std::string> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && is_corpus_file(name) && name.find(must_contain) != std::string::npos)
      out.push_back(entry.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

BadDataPolicy parse_bad_data_policy(const std::string& text) {
  T5_CHECK_HINT(text == "skip" || text == "stop", "use skip (count, report file:line, go on) or stop",
                "unknown --on-bad-data '{}'", text);
  return text == "stop" ? BadDataPolicy::stop : BadDataPolicy::skip;
}

std::string bad_data_report(const std::string& label, const BadDataCounts& counts) {
  if (counts.total() == 0) return "";
  std::string text = fmt::format("{}: {} bad lines skipped (malformed JSON {}, no text {}, invalid UTF-8 {}, "
                                 "truncated gzip {}):\n",
                                 label, counts.total(), counts.malformed_json, counts.missing_text,
                                 counts.invalid_utf8, counts.truncated_gzip);
  for (const auto& r : counts.first_reports) text += "  " + r + "\n";
  return text;
}

std::vector<std::string> list_corpus_files(const std::string& path, const std::string& split) {
  T5_CHECK_HINT(fs::exists(path), "run 't5scale data prepare' or pass a C4 directory with --data",
                "{}: no such file or directory", path);
  if (!fs::is_directory(path)) return {path};
  for (const fs::path& dir : {fs::path(path) / "en", fs::path(path)}) {
    std::vector<std::string> files = matching_files(dir, "c4-" + split + ".");
    if (!files.empty()) return files;
  }
  std::vector<std::string> files = matching_files(path, split);
  T5_CHECK_HINT(!files.empty(), "expected en/c4-" + split + ".NNNNN-of-NNNNN.json.gz (C4 layout)",
                "{}: empty corpus: no {} files (*.json.gz, *.jsonl, *.txt)", path, split);
  return files;
}

bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07;
    else return false;
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid UTF-8 too.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

// Lines of one (possibly gzip-compressed) file.
class DocumentReader::LineFile {
 public:
  explicit LineFile(const std::string& path) : path_(path), file_(gzopen(path.c_str(), "rb")) {
    T5_CHECK_HINT(file_ != nullptr, "check the path and its permissions", "{}: cannot open", path);
    gzbuffer(file_, 1 << 17);
    buffer_.resize(1 << 17);
  }
  ~LineFile() { gzclose(file_); }
  // false at the end. A last line without "\n" counts, unless the data was cut short (then it is
  // a fragment and take_truncation() says so once).
  bool next(std::string& line) {
    line.clear();
    for (;;) {
      if (pos_ == end_) {
        if (eof_) return !line.empty() && !truncated_;
        const int got = gzread(file_, buffer_.data(), unsigned(buffer_.size()));
        if (got <= 0) {
          int err = Z_OK;
          gzerror(file_, &err);
          eof_ = true;
          truncated_ = got < 0 || err == Z_BUF_ERROR || err == Z_DATA_ERROR;
          continue;
        }
        pos_ = 0;
        end_ = size_t(got);
      }
      const char* start = buffer_.data() + pos_;
      const void* nl = std::memchr(start, '\n', end_ - pos_);
      if (nl != nullptr) {
        const size_t len = size_t(static_cast<const char*>(nl) - start);
        line.append(start, len);
        pos_ += len + 1;
        return true;
      }
      line.append(start, end_ - pos_);
      pos_ = end_;
    }
  }
  bool take_truncation() {
    const bool t = eof_ && truncated_ && !reported_;
    reported_ = reported_ || t;
    return t;
  }

 private:
  std::string path_;
  gzFile file_;
  std::vector<char> buffer_;
  size_t pos_ = 0, end_ = 0;
  bool eof_ = false, truncated_ = false, reported_ = false;
};

DocumentReader::DocumentReader(std::vector<std::string> files, BadDataPolicy policy)
    : files_(std::move(files)), policy_(policy) {
  T5_CHECK(!files_.empty(), "empty corpus: no files to read");
}

DocumentReader::~DocumentReader() = default;

bool DocumentReader::open_current() {
  if (current_) return true;
  if (place_.file >= int64_t(files_.size())) return false;
  current_ = std::make_unique<LineFile>(files_[size_t(place_.file)]);
  return true;
}

void DocumentReader::seek(ReaderPlace place) {
  T5_CHECK(place.file >= 0 && place.file <= int64_t(files_.size()) && place.line >= 0,
           "data position (file {}, line {}) is outside the corpus of {} files", place.file, place.line, files_.size());
  current_.reset();
  place_ = {place.file, 0};
  if (!open_current()) return;
  std::string line;
  while (place_.line < place.line) {
    T5_CHECK_HINT(current_->next(line), "resume with the corpus the checkpoint was trained on",
                  "{}: data position line {} is past the end of the file ({} lines)", files_[size_t(place.file)],
                  place.line, place_.line);
    ++place_.line;
  }
}

void DocumentReader::report(int64_t& counter, int64_t line, std::string_view what, std::string_view hint) {
  const std::string where = fmt::format("{}:{}", files_[size_t(place_.file)], line + 1);
  if (policy_ == BadDataPolicy::stop)
    throw Error(fmt::format("{}: {}", where, what), fmt::format("{}; or --on-bad-data skip", hint));
  // Later epochs read the same lines again: each bad line is counted and reported once.
  const std::pair<int64_t, int64_t> at{place_.file, line};
  if (at <= last_report_) return;
  last_report_ = at;
  ++counter;
  if (bad_.first_reports.size() < 20) bad_.first_reports.push_back(fmt::format("{}: {}", where, what));
}

bool DocumentReader::next_line(std::string& line) {
  const bool got = current_->next(line);
  if (!got && current_->take_truncation())
    report(bad_.truncated_gzip, place_.line, "truncated or corrupt gzip data (rest of the file skipped)",
           "re-download the shard");
  return got;
}

bool DocumentReader::next(Document& doc) {
  std::string line;
  while (open_current()) {
    const bool plain = is_plain_text(files_[size_t(place_.file)]);
    doc.text.clear();
    doc.place = place_;
    bool have = false;
    while (next_line(line)) {
      const int64_t line_no = place_.line++;
      if (plain) {
        // A document is a run of non-blank lines; it ends at a blank line.
        const bool blank = line.find_first_not_of(" \t\r") == std::string::npos;
        if (blank) {
          if (have) break;
          doc.place = place_;
          continue;
        }
        if (!is_valid_utf8(line)) {
          report(bad_.invalid_utf8, line_no, "invalid UTF-8 (line skipped)", "fix the file's encoding");
          continue;
        }
        if (have) doc.text += '\n';
        doc.text += line;
        have = true;
        continue;
      }
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      if (!is_valid_utf8(line)) {
        report(bad_.invalid_utf8, line_no, "invalid UTF-8 (line skipped)", "fix the file's encoding");
        continue;
      }
      nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.is_object()) {
        report(bad_.malformed_json, line_no, "malformed JSON line (skipped)", "each line must be one JSON object");
        continue;
      }
      auto text = j.find("text");
      if (text == j.end() || !text->is_string()) {
        report(bad_.missing_text, line_no, "no string \"text\" key (line skipped)",
               "C4 lines look like {\"text\": ..., \"timestamp\": ..., \"url\": ...}");
        continue;
      }
      doc.text = text->get<std::string>();
      doc.place.line = line_no;
      return true;
    }
    if (have) return true;
    current_.reset();
    place_ = {place_.file + 1, 0};
  }
  return false;
}

}  // namespace t5
