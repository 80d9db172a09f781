// Sweeps on Slurm (issue 15). `t5scale sweep SPEC --slurm` writes a job-array batch script whose every
// task is one more worker of the sweep on the shared results directory: workers claim variants through
// file locks (sweeps/schedule.h), so the tasks split the variants, and a requeued or resubmitted array
// skips the variants that have a record and resumes the interrupted ones from their checkpoints. The
// script is submitted with `sbatch --parsable` and the command returns at once: nothing depends on the
// submitting process staying alive. `t5scale status` asks squeue (and scontrol, for tasks that ended)
// what became of the job. Slurm is driven through its own commands, as a user types them (sbatch,
// squeue, scontrol from slurm-client); nothing links against Slurm.
//
// Signals: a task's batch shell execs the worker, so Slurm's SIGTERM (scancel, preemption, the time
// limit, and `--signal=B:TERM@<kSlurmSignalSeconds>` before it) reaches the worker itself, which
// checkpoints its variant at the end of the step in flight and exits 130 (core/interrupt.h).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace t5 {

// Seconds before a task's time limit at which Slurm sends the worker SIGTERM (Slurm may send it up to
// 60 s earlier still): time for the step in flight and the checkpoint.
constexpr int kSlurmSignalSeconds = 120;

// The Slurm files of a sweep's results directory.
struct SlurmLayout {
  std::string dir;                                             // results/<name>/slurm
  std::string script() const { return dir + "/sweep.sbatch"; }
  std::string jobs() const { return dir + "/jobs.jsonl"; }   // one line per submission, append-only
  std::string logs() const { return dir + "/logs"; }         // <array job>_<task>.out, one per task
};
SlurmLayout slurm_layout(const std::string& results_dir);

// What the batch script runs. Paths are absolute: a task starts in `workdir` on whatever node.
struct SlurmArray {
  std::string sweep_name;                  // job name t5scale-<sweep_name>
  std::string binary, spec_path, out_dir;  // the worker: `binary sweep spec_path --out out_dir`
  std::string workdir;                     // --chdir: where the spec's relative data paths resolve
  int tasks = 1;                           // --array=0-(tasks-1)
  int threads = 1;                         // --cpus-per-task, and the worker's --threads
  bool keep_checkpoints = false;
  std::vector<std::string> sbatch_args;    // the user's extra sbatch options (named in the header)
};

// The batch script (bash). Throws t5::Error when a path holds whitespace or a quote, which #SBATCH
// lines cannot carry.
std::string sbatch_script(const SlurmArray& array);

// Splits `--sbatch "ARGS"` as a shell would: words at whitespace, '...' and "..." quote, \ escapes.
// Throws t5::Error for an unbalanced quote, and for the options the script sets itself (--array,
// --wrap, --parsable), naming the option.
std::vector<std::string> split_sbatch_args(const std::string& text);

// `program` as found on PATH (absolute), "" if it is not there.
std::string find_on_path(const std::string& program);

// A program run to its end with stdout and stderr captured (argv[0] is looked up on PATH).
struct ProgramResult {
  int exit_code = -1;   // 128 + signal when it was killed; 127 when it could not be started
  std::string out, err;
};
ProgramResult run_program(const std::vector<std::string>& argv);

// sbatch as found on PATH; throws t5::Error (one line, with a hint) when it is not there.
std::string find_sbatch();

// `sbatch --parsable ARGS SCRIPT`: the job id it printed. Throws t5::Error (one line, sbatch's own
// message in it) when sbatch is not on PATH, fails, or prints no job id.
std::string submit_batch(const std::string& script_path, const std::vector<std::string>& sbatch_args);

// What Slurm says of a job's tasks: squeue for pending and running ones, else scontrol for ones that
// ended and that slurmctld still remembers (MinJobAge, 300 s by default); no accounting needed.
struct SlurmTask {
  std::string id;       // "12_3" (array task), "12" (a plain job)
  std::string state;    // PENDING, RUNNING, COMPLETING, COMPLETED, FAILED, CANCELLED, TIMEOUT, ...
  std::string detail;   // the node list when running, the reason when pending, the exit code when ended
};
struct SlurmJobState {
  std::string job_id;
  bool known = false;           // Slurm answered about the job (tasks is then what it said)
  std::string note;             // why not known: no squeue on PATH, its error, or the job is forgotten
  std::vector<SlurmTask> tasks;
};
SlurmJobState query_slurm_job(const std::string& job_id);

}  // namespace t5
