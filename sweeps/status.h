// A sweep's progress read from its results directory alone, by any process on any node that shares
// it (`t5scale status`, `sweep --status`): which variants have a record (ok, diverged, failed), which
// a worker holds (running, and who: schedule.h variant_claimant), which wait (pending, from their
// checkpoint if they left one); the rate the workers have trained at, from the steps logs, and the
// ETA of what is left. Reads only: it never takes a claim or writes a file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sweeps/spec.h"

namespace t5 {

struct VariantState {
  std::string id;
  std::string state;               // "ok" | "diverged" | "failed" (its record's status) | "running" | "pending"
  int64_t steps = 0;               // the variant's budget
  int64_t step = 0;                // record: steps done; running: its last logged step; pending: its checkpoint's
  double train_flops_per_step = 0;
  nlohmann::json claimant;         // running: who holds the claim (host, pid, since, slurm); else null
};

struct SweepStatus {
  std::string name, out_dir;
  std::vector<VariantState> variants;                // in the spec's order
  int64_t ok = 0, diverged = 0, failed = 0, running = 0, pending = 0;
  // The rate of one worker: training FLOPs of every step line in the steps logs over their seconds
  // (evaluations not counted). NaN before any step is logged.
  int64_t logged_steps = 0;
  double logged_seconds = 0;
  double flops_per_second_per_worker = 0;
  // Training FLOPs still to run: each unfinished variant from its last logged step (running) or its
  // checkpoint (pending: the steps after it are run again).
  double flops_left = 0;
  int workers = 1;                                   // the running variants' workers, at least 1
  double eta_seconds = 0;                            // flops_left / (rate x workers); NaN with no rate
};

SweepStatus sweep_status(const SweepSpec& spec, const Expansion& expansion, const std::string& out_dir);

nlohmann::json to_json(const VariantState& v);
nlohmann::json to_json(const SweepStatus& s);

}  // namespace t5
