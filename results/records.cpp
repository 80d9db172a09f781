// Append-only JSON Lines records with crash-safe appends (see records.h).
#include "results/records.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/error.h"

namespace t5 {

namespace {

// Owns a file descriptor; closes it (and so drops any flock) on every path out.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void write_all(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    T5_CHECK(n > 0, "{}: write failed: {}", path, std::strerror(errno));
    done += size_t(n);
  }
}

}  // namespace

// Serialises every writer of a records file (see records.h). Opening the lock file after the caller
// decided to write, and the records file only once it is held, means a writer always writes the file
// the last rewrite put in place.
RecordsLock::RecordsLock(const std::string& records_path) : path_(records_lock_path(records_path)) {
  const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  T5_CHECK(fd_ >= 0, "{}: cannot open lock file: {}", path_, std::strerror(errno));
  while (::flock(fd_, LOCK_EX) != 0) {
    const int error = errno;
    if (error == EINTR) continue;
    ::close(fd_);
    throw Error(fmt::format("{}: flock failed: {}", path_, std::strerror(error)));
  }
}

RecordsLock::~RecordsLock() { ::close(fd_); }   // closing drops the flock

std::string records_lock_path(const std::string& records_path) {
  return std::filesystem::path(records_path).replace_extension(".lock").string();
}

namespace {

// Appends whole lines to `path` (the caller holds its RecordsLock), then fsync.
void append_lines(const std::string& path, std::string lines) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  Fd f;
  f.fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  T5_CHECK(f.fd >= 0, "{}: cannot open for appending: {}", path, std::strerror(errno));
  // A crash in the middle of an earlier append may have left a line without its newline: end it so
  // these records stay lines of their own (the reader reports the torn one).
  struct stat st {};
  T5_CHECK(::fstat(f.fd, &st) == 0, "{}: fstat failed: {}", path, std::strerror(errno));
  if (st.st_size > 0) {
    char last = '\n';
    T5_CHECK(::pread(f.fd, &last, 1, st.st_size - 1) == 1, "{}: read failed: {}", path, std::strerror(errno));
    if (last != '\n') lines.insert(lines.begin(), '\n');
  }
  write_all(f.fd, lines, path);   // one write() in practice: O_APPEND places it at the end
  T5_CHECK(::fsync(f.fd) == 0, "{}: fsync failed: {}", path, std::strerror(errno));
}

// One line of a records file as a record; discarded (is_discarded()) when it is not a JSON object.
nlohmann::json parse_record_line(const std::string& line) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : nlohmann::json(nlohmann::json::value_t::discarded);
}

}  // namespace

void append_record(const std::string& path, const nlohmann::ordered_json& record) {
  T5_CHECK(record.is_object(), "{}: a record must be a JSON object", path);
  const RecordsLock lock(path);
  append_lines(path, record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

std::vector<nlohmann::json> move_records(const std::string& path, const std::string& history_path,
                                         const std::function<bool(const nlohmann::json&)>& select) {
  const RecordsLock lock(path);
  std::vector<nlohmann::json> moved;
  std::ifstream in(path, std::ios::binary);
  if (!in.good()) return moved;
  std::string line, kept, leaving;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const nlohmann::json j = parse_record_line(line);
    const bool move = !j.is_discarded() && select(j);   // torn lines stay where the reader reports them
    (move ? leaving : kept) += line + "\n";
    if (move) moved.push_back(j);
  }
  if (moved.empty()) return moved;
  // History first and durable: a crash before the rewrite leaves the records in both files.
  append_lines(history_path, leaving);
  write_text_atomic(path, kept);
  return moved;
}

RecordFile read_records(const std::string& path) {
  RecordFile out;
  std::ifstream in(path, std::ios::binary);
  if (!in.good()) return out;
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    nlohmann::json j = parse_record_line(line);
    if (j.is_discarded()) {
      out.torn_lines.push_back(number);
      continue;
    }
    out.records.push_back(std::move(j));
    out.record_lines.push_back(number);
  }
  return out;
}

bool has_record(const RecordFile& file, const std::string& id) {
  for (const auto& r : file.records)
    if (r.contains("id") && r["id"] == id) return true;
  return false;
}

nlohmann::json step_log_line(const StepMetrics& m) {
  return {{"type", "step"},       {"step", m.step},       {"loss", m.loss},
          {"z_loss", m.z_loss},   {"lr", m.lr},           {"grad_norm", m.grad_norm},
          {"seconds", m.seconds}, {"tokens", m.tokens},   {"label_tokens", m.label_tokens}};
}

nlohmann::json eval_log_line(const EvalMetrics& e) {
  nlohmann::json line = {{"type", "eval"}, {"step", e.step}, {"loss", e.loss}, {"negative_log_perplexity", -e.loss},
                         {"tokens", e.tokens}, {"batches", e.batches}};
  if (std::isfinite(e.loss_standard_error)) line["standard_error"] = e.loss_standard_error;
  return line;
}

LineLog::LineLog(const std::string& path, bool truncate) : path_(path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0644);
  T5_CHECK(fd_ >= 0, "{}: cannot open for appending: {}", path, std::strerror(errno));
}

LineLog::~LineLog() {
  if (fd_ >= 0) ::close(fd_);
}

void LineLog::append(const nlohmann::json& line) {
  write_all(fd_, line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", path_);
}

Throughput measure_throughput(const std::vector<double>& step_seconds, int64_t batch, int64_t inputs_length,
                              int64_t targets_length, double flops_per_step, double ceiling, int64_t peak_rss_bytes) {
  Throughput t;
  t.peak_rss_bytes = peak_rss_bytes;
  t.gemm_ceiling_flops_per_second = ceiling;
  if (step_seconds.empty()) return t;
  for (double s : step_seconds) t.wall_seconds += s;
  std::vector<double> sorted = step_seconds;
  std::sort(sorted.begin(), sorted.end());
  const size_t n = sorted.size();
  t.step_time_seconds = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  if (t.step_time_seconds <= 0) return t;
  t.steps_per_second = 1.0 / t.step_time_seconds;
  t.examples_per_second = double(batch) * t.steps_per_second;
  t.tokens_per_second = double(batch * (inputs_length + targets_length)) * t.steps_per_second;
  t.achieved_flops_per_second = flops_per_step * t.steps_per_second;
  t.mfu = ceiling > 0 ? t.achieved_flops_per_second / ceiling : 0.0;
  return t;
}

nlohmann::ordered_json loss_curve_summary(const std::vector<std::pair<int64_t, double>>& curve, size_t max_points) {
  nlohmann::ordered_json out;
  if (curve.empty()) {
    out["first"] = nullptr;
    out["min"] = nullptr;
    out["last"] = nullptr;
    out["points"] = nlohmann::ordered_json::array();
    return out;
  }
  double lowest = curve.front().second;
  for (const auto& p : curve)
    if (std::isfinite(p.second)) lowest = std::isfinite(lowest) ? std::min(lowest, p.second) : p.second;
  out["first"] = curve.front().second;
  out["min"] = lowest;
  out["last"] = curve.back().second;
  out["points"] = nlohmann::ordered_json::array();
  // Evenly spaced indices including the first and the last point.
  const size_t n = curve.size(), k = std::min(n, std::max<size_t>(max_points, 2));
  for (size_t i = 0; i < k; ++i) {
    const size_t at = k == 1 ? 0 : (i * (n - 1)) / (k - 1);
    out["points"].push_back({curve[at].first, curve[at].second});
  }
  return out;
}

nlohmann::ordered_json make_record(const RecordParts& r) {
  using oj = nlohmann::ordered_json;
  const double tokens_per_step = double(r.batch * (r.inputs_length + r.targets_length));
  oj rec;
  rec["schema_version"] = kRecordSchemaVersion;
  rec["id"] = r.id;
  rec["sweep"] = r.sweep;
  rec["status"] = r.status;
  rec["error"] = r.error.empty() ? oj(nullptr) : oj(r.error);
  rec["seed"] = r.seed;
  rec["shape"] = r.shape;
  rec["coordinates"] = r.coordinates;
  rec["params"] = r.params;
  rec["flops"] = {{"forward_per_example", r.forward_flops_per_example},
                  {"train_per_step", r.train_flops_per_step},
                  {"kaplan_6n_per_step", r.kaplan_6n_per_step},
                  {"total", r.train_flops_per_step * double(r.steps_done)},
                  {"convention", "exact matmul count, 1 multiply-add = 2 FLOPs, training = 3 x forward (SPEC 3)"}};
  rec["budget"] = {{"kind", r.budget_kind}, {"value", r.budget_value}, {"steps", r.steps},
                   {"steps_done", r.steps_done}, {"batch", r.batch}, {"inputs_length", r.inputs_length},
                   {"targets_length", r.targets_length}, {"tokens", tokens_per_step * double(r.steps_done)}};
  rec["settings"] = r.settings;
  const Throughput& t = r.throughput;
  rec["throughput"] = {{"steps_per_second", t.steps_per_second},
                       {"examples_per_second", t.examples_per_second},
                       {"tokens_per_second", t.tokens_per_second},
                       {"tokens_definition", "batch * (inputs_length + targets_length)"},
                       {"step_time_seconds", t.step_time_seconds},
                       {"wall_seconds", t.wall_seconds},
                       {"achieved_flops_per_second", t.achieved_flops_per_second},
                       {"gemm_ceiling_flops_per_second", t.gemm_ceiling_flops_per_second},
                       {"mfu", t.mfu},
                       {"precision_path", to_string(t.precision_path)},
                       {"peak_rss_bytes", t.peak_rss_bytes}};
  const bool evaluated = std::isfinite(r.eval_loss);
  rec["quality"] = {{"eval_loss", evaluated ? oj(r.eval_loss) : oj(nullptr)},
                    {"negative_log_perplexity", evaluated ? oj(-r.eval_loss) : oj(nullptr)},
                    {"eval_tokens", r.eval_tokens}};
  if (r.eval_batches > 0) rec["quality"]["eval_batches"] = r.eval_batches;
  if (evaluated && std::isfinite(r.eval_loss_standard_error))
    rec["quality"]["eval_loss_standard_error"] = r.eval_loss_standard_error;
  if (evaluated && !r.eval_batch_losses.empty()) {
    rec["quality"]["eval_batch_losses"] = r.eval_batch_losses;
    rec["quality"]["eval_batch_tokens"] = r.eval_batch_tokens;
  }
  rec["quality"].update(oj{{"final_train_loss", std::isfinite(r.final_train_loss) ? oj(r.final_train_loss) : oj(nullptr)},
                    {"loss_curve", loss_curve_summary(r.train_curve)}});
  rec["data"] = r.data;
  if (!r.downstream.is_null()) rec["downstream"] = r.downstream;
  rec["context"] = r.context;
  return rec;
}

double record_number(const nlohmann::json& record, const char* block, const char* key) {
  if (!record.contains(block) || !record[block].is_object() || !record[block].contains(key) ||
      !record[block][key].is_number())
    return std::nan("");
  return record[block][key].get<double>();
}

}  // namespace t5
