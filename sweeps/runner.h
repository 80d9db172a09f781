// Running a sweep: every variant of a spec through one VariantRunner (the real one trains with
// core/trainer.h; tests pass fakes), scheduled by claims on the results directory, each outcome
// published as one record. Resumable: finished variants (a record in runs.jsonl, whatever its status)
// are skipped; an interrupted one (killed, or stopped by Ctrl-C / SIGTERM after checkpointing its
// last step: core/interrupt.h) has no record and resumes from its checkpoint directory; a failure or
// divergence becomes a record and the sweep goes on (its checkpoints stay, so a variant released for
// a retry, schedule.h release_for_retry, resumes from them).
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "sweeps/schedule.h"
#include "sweeps/spec.h"

namespace t5 {

// What one variant's run produced.
struct VariantOutcome {
  bool diverged = false;
  std::string error;                               // divergence or failure message
  int64_t steps_done = 0;                          // optimizer steps reached (incl. before a resume)
  std::vector<double> step_seconds;                // wall time of the steps run in this process
  std::vector<std::pair<int64_t, double>> train_curve;   // (step, loss) over the whole run
  double eval_loss = 0;                            // final held-out mean CE (NaN if none)
  int64_t eval_tokens = 0;
  int64_t eval_batches = 0;
  double eval_loss_standard_error = std::nan("");  // over eval batches (core/trainer.h); NaN if none
  std::vector<double> eval_batch_losses;           // per eval batch (core/trainer.h EvalMetrics)
  std::vector<int64_t> eval_batch_tokens;
  int64_t resumed_from = 0;
  nlohmann::json data = nlohmann::json::object();  // the data source's description
  nlohmann::json downstream;                       // the downstream stage's block (null: none)
};

struct VariantContext {
  std::string checkpoint_dir;     // results/<name>/checkpoints/<id>
  std::string steps_log;          // results/<name>/steps/<id>.jsonl
  std::string downstream_dir;     // results/<name>/downstream/<id>: the variant's fine-tuning runs
};

// Runs one variant; throws (t5::Error or anything) for a failed run.
using VariantRunner = std::function<VariantOutcome(const SweepSpec&, const Variant&, const VariantContext&)>;

struct SweepOptions {
  std::string out_dir;                  // default results/<spec.name>
  double gemm_ceiling = 0;              // FLOP/s for MFU; 0 = unknown
  bool keep_checkpoints = false;        // default: a finished variant's checkpoints are removed
  bool progress = true;                 // one line per variant + ETA on stderr
  int workers = 1;                      // processes sharing the directory (--jobs): scales the ETA
  std::string worker_label;             // prefix of this worker's progress lines ("" = none)
};

struct SweepSummary {
  int64_t ran = 0, skipped_finished = 0, failed = 0, diverged = 0;
  int64_t left_to_others = 0;           // variants other workers held when this one stopped
  bool interrupted = false;             // an interrupt (core/interrupt.h) stopped the loop
  std::string interrupted_variant;      // the variant it stopped inside ("" = between variants): no
  int64_t interrupted_step = 0;         // record, its checkpoint holds interrupted_step
  std::string out_dir;
};

// Prepares the results directory: writes spec.json (the spec as given) or checks that the one
// already there is the same spec (throws otherwise: a different sweep would mix records). Then runs
// `under_lock` (if given) still holding the directory's setup lock, so what several workers starting
// at once compute for the whole sweep (the GEMM ceiling, the baseline) is computed once.
void prepare_results_dir(const SweepSpec& spec, const std::string& out_dir,
                         const std::function<void()>& under_lock = {});

SweepSummary run_sweep(const SweepSpec& spec, const Expansion& expansion, const VariantRunner& runner,
                       const SweepOptions& options);

// Peak resident memory of this process since the last reset (VmHWM; getrusage as a fallback), and the
// reset, so one process running several variants measures each one.
int64_t variant_peak_rss_bytes();
void reset_peak_rss();

// Keeps the lines of a steps log with step <= `upto` (a resumed run replays later steps), or
// empties it when `upto` is 0.
void trim_steps_log(const std::string& path, int64_t upto);

}  // namespace t5
