// Run records: results/<sweep>/runs.jsonl, append-only JSON Lines, one object per finished or failed
// run (STYLE.md). Schema (schema_version 1):
//   {schema_version, id, sweep, status: "ok"|"diverged"|"failed", error (string|null), seed,
//    shape (core/shape.h shape JSON), coordinates (grid axis -> value), params,
//    flops {forward_per_example, train_per_step, kaplan_6n_per_step, total},
//    budget {kind, value, steps, steps_done, batch, inputs_length, targets_length, tokens},
//    settings (sweeps/spec.h RunSettings), throughput {...}, quality {...}, data, context}
// throughput: steps_per_second, examples_per_second, tokens_per_second (tokens = batch·(Le+Ld)),
//   step_time_seconds (median), achieved_flops_per_second, gemm_ceiling_flops_per_second, mfu,
//   precision_path ("native" | "emulated": the run's bf16 products emulated on the f32 matmul of a CPU
//   without a bf16 one, core/gemm.h; settings.precision stays "bf16" for grouping), peak_rss_bytes,
//   wall_seconds.
// quality: eval_loss (mean CE nats on held-out data), negative_log_perplexity (= −eval_loss),
//   eval_tokens, eval_batches? and eval_loss_standard_error? (the sampling noise of eval_loss over the
//   eval batches, core/trainer.h EvalMetrics; absent in records written before issue 16, and when one
//   batch was read), eval_batch_losses? and eval_batch_tokens? (each eval batch's mean CE and label
//   tokens: every run of a sweep reads the same batches, so the report pairs them), final_train_loss, loss_curve {first, min, last, points [[step, loss], ...]}.
// Readers ignore fields they do not know. Per-step metrics go to results/<sweep>/steps/<id>.jsonl.
//
// Durability: a record is one write() of a whole line to a file opened O_APPEND, then fsync, under an
// exclusive flock of runs.lock beside it (RecordsLock); a line left torn by a crash is reported by
// the reader and skipped, and the next writer first terminates it so no later record is glued onto
// it. The one rewrite of runs.jsonl (move_records, for `sweep --retry-failed`) happens under the
// same lock, by temporary file + rename.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/trainer.h"

namespace t5 {

constexpr int kRecordSchemaVersion = 1;

// The exclusive flock every writer of the records file `records_path` holds while it appends or
// rewrites: on <dir>/<stem>.lock (runs.lock for runs.jsonl), not on the records file itself, because
// a rewrite renames a new file into place and a writer waiting on the old file's lock would then
// append to a file nobody reads. Blocks until the lock is free.
class RecordsLock {
 public:
  explicit RecordsLock(const std::string& records_path);
  ~RecordsLock();
  RecordsLock(const RecordsLock&) = delete;
  RecordsLock& operator=(const RecordsLock&) = delete;

 private:
  std::string path_;
  int fd_ = -1;
};
std::string records_lock_path(const std::string& records_path);

// Appends `record` (one JSON object) as a line under the RecordsLock; atomic with respect to other
// appenders and to move_records.
void append_record(const std::string& path, const nlohmann::ordered_json& record);

// Under the RecordsLock of `path`: the records `select` picks (called once per whole record, still
// under the lock) are appended byte for byte to `history_path` and fsynced, then `path` is rewritten
// without them (temporary file + rename; torn lines stay). A crash between the two steps leaves a
// record in both files, never in neither. Returns the moved records in file order.
std::vector<nlohmann::json> move_records(const std::string& path, const std::string& history_path,
                                         const std::function<bool(const nlohmann::json&)>& select);

// Throughput of a run from its measured step times (SPEC §3): tokens = batch·(Le + Ld) per step.
struct Throughput {
  double wall_seconds = 0;                  // sum of step times (training only, no eval)
  double step_time_seconds = 0;             // median step time
  double steps_per_second = 0;              // 1 / median
  double examples_per_second = 0;
  double tokens_per_second = 0;
  double achieved_flops_per_second = 0;     // train FLOPs per step / median step time
  double gemm_ceiling_flops_per_second = 0; // measured once per sweep (0 = not measured)
  double mfu = 0;                           // achieved / ceiling (0 when no ceiling)
  PrecisionPath precision_path = PrecisionPath::native;  // of the run's products (and of its ceiling)
  int64_t peak_rss_bytes = 0;
};
Throughput measure_throughput(const std::vector<double>& step_seconds, int64_t batch, int64_t inputs_length,
                              int64_t targets_length, double flops_per_step, double ceiling_flops_per_second,
                              int64_t peak_rss_bytes);

// The loss curve kept in the record: first, min, last and at most `max_points` evenly thinned points
// (the full curve is in steps/<id>.jsonl).
nlohmann::ordered_json loss_curve_summary(const std::vector<std::pair<int64_t, double>>& curve, size_t max_points = 50);

// Everything a record holds, in plain fields (results/ does not depend on sweeps/).
struct RecordParts {
  std::string id, sweep;
  std::string status = "ok";                // ok | diverged | failed
  std::string error;                        // empty = null
  uint64_t seed = 0;
  nlohmann::json shape;                     // shape_to_json
  nlohmann::json coordinates = nlohmann::json::object();
  int64_t params = 0;
  double forward_flops_per_example = 0, train_flops_per_step = 0, kaplan_6n_per_step = 0;
  std::string budget_kind = "steps";
  double budget_value = 0;
  int64_t steps = 0, steps_done = 0, batch = 0, inputs_length = 0, targets_length = 0;
  nlohmann::json settings = nlohmann::json::object();
  Throughput throughput;
  double eval_loss = 0;                     // NaN when no evaluation finished (written as null)
  int64_t eval_tokens = 0;
  int64_t eval_batches = 0;                 // 0 = not recorded (the key is then left out)
  double eval_loss_standard_error = std::nan("");   // over eval batches; NaN: left out
  std::vector<double> eval_batch_losses;    // mean CE per eval batch; empty: left out
  std::vector<int64_t> eval_batch_tokens;   // label tokens per eval batch
  double final_train_loss = 0;
  std::vector<std::pair<int64_t, double>> train_curve;
  nlohmann::json data = nlohmann::json::object();
  nlohmann::json downstream;                // the downstream stage (sweeps/downstream_stage.h); null = none
  nlohmann::json context = nlohmann::json::object();
};
nlohmann::ordered_json make_record(const RecordParts& parts);

struct RecordFile {
  std::vector<nlohmann::json> records;   // parsed lines, in file order
  std::vector<int64_t> record_lines;     // 1-based line number of each record
  std::vector<int64_t> torn_lines;       // 1-based line numbers that were not whole JSON objects
};

// record[block][key] as a number: NaN when the block or the key is absent or not a number (readers
// ignore what they do not know; old records lack newer fields).
double record_number(const nlohmann::json& record, const char* block, const char* key);

// Reads a runs.jsonl; a missing file reads as empty. Lines that are not JSON objects (a torn tail
// left by a crash) are listed in torn_lines, never thrown.
RecordFile read_records(const std::string& path);

// Whether the file holds a record of `id` (a finished variant).
bool has_record(const RecordFile& file, const std::string& id);

// Lines of a steps log (and of `t5scale train --json-out`): {"type": "step", step, loss, z_loss, lr,
// grad_norm, seconds, tokens, label_tokens} and {"type": "eval", step, loss, negative_log_perplexity,
// tokens, batches, standard_error? (of loss over the batches; absent with one batch)}.
nlohmann::json step_log_line(const StepMetrics& m);
nlohmann::json eval_log_line(const EvalMetrics& e);

// Appends one line of per-step metrics without fsync (steps/<id>.jsonl is a log, not a record).
class LineLog {
 public:
  explicit LineLog(const std::string& path, bool truncate);
  ~LineLog();
  LineLog(const LineLog&) = delete;
  LineLog& operator=(const LineLog&) = delete;
  void append(const nlohmann::json& line);

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace t5
