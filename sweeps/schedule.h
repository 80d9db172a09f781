// Who runs which variant. A sweep worker loops: claim a variant, run it, publish its record. The
// interface is small on purpose: the file-lock scheduler below serves several processes on one
// machine (or one shared filesystem with working flock); an MPI-rank or job-array scheduler can
// implement the same three calls.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sweeps/spec.h"

namespace t5 {

// A claimed variant: the worker owns it until publish() or release().
class Claim {
 public:
  virtual ~Claim() = default;
  virtual const Variant& variant() const = 0;
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // The next variant nobody has finished or is running, claimed for this worker; nullptr when none
  // is left to claim (finished or running elsewhere).
  virtual std::unique_ptr<Claim> claim() = 0;
  // Publishes the variant's record (ok, diverged or failed) and drops the claim.
  virtual void publish(std::unique_ptr<Claim> claim, const nlohmann::json& record) = 0;
  // Gives the claim back without a record (e.g. the worker is stopping).
  virtual void release(std::unique_ptr<Claim> claim) = 0;
  // Ids of variants that have a record.
  virtual std::vector<std::string> finished() const = 0;
};

// Layout of a sweep's results directory.
struct ResultsLayout {
  std::string dir;                                  // results/<name>
  std::string runs() const { return dir + "/runs.jsonl"; }
  std::string retried() const { return dir + "/runs.retried.jsonl"; }   // records moved out for a retry
  std::string lock(const std::string& id) const { return dir + "/locks/" + id + ".lock"; }
  std::string steps(const std::string& id) const { return dir + "/steps/" + id + ".jsonl"; }
  std::string checkpoint(const std::string& id) const { return dir + "/checkpoints/" + id; }
  std::string downstream(const std::string& id) const { return dir + "/downstream/" + id; }   // fine-tuning runs
  std::string spec() const { return dir + "/spec.json"; }
};

// flock(LOCK_EX|LOCK_NB) on <dir>/locks/<id>.lock claims a variant; finished = a record of the id in
// runs.jsonl. The kernel drops the lock when the process dies (kill -9 included), so an interrupted
// variant becomes claimable again and resumes from its checkpoint. While it holds a claim, a worker
// keeps who it is in the lock file (claimant_context(), for `t5scale status`), and empties it when
// it publishes or gives the claim back. A variant found locked is tried once more after a moment
// before the worker concludes that nothing is left for it, so a status probe holding a lock for a
// few microseconds never makes a worker stop early.
std::unique_ptr<Scheduler> make_file_lock_scheduler(const ResultsLayout& layout, std::vector<Variant> variants);

// Who this process is, as a worker writes it into the lock file of the variant it claims:
// {host, pid, since (UTC), slurm (results/context.h slurm_context, when in a Slurm job)}.
nlohmann::json claimant_context();

// The claimant of variant `id` when a process holds its claim (the lock file's JSON; an empty
// object if the holder wrote none), std::nullopt when nobody holds it. Probes with a shared lock
// taken and dropped at once (see make_file_lock_scheduler for why a worker is not misled by it).
std::optional<nlohmann::json> variant_claimant(const ResultsLayout& layout, const std::string& id);

// Makes finished variants claimable again (`sweep --retry-failed`): the records of `variants` whose
// status is one of `statuses` are moved from runs.jsonl to runs.retried.jsonl (results/records.h
// move_records: history first, never lost). A variant whose lock a worker holds is left as it is;
// the others' locks are held until runs.jsonl is rewritten. Returns the moved records, in file order.
std::vector<nlohmann::json> release_for_retry(const ResultsLayout& layout, const std::vector<Variant>& variants,
                                              const std::vector<std::string>& statuses);

// Undoes release_for_retry for `records` (what it returned) when what was to run them again did not
// start (a Slurm submission that failed): each moves from runs.retried.jsonl back to runs.jsonl, unless
// a worker has claimed its variant since (then it runs, and its old record stays history). Returns
// how many came back.
size_t restore_retried(const ResultsLayout& layout, const std::vector<nlohmann::json>& records);

}  // namespace t5
