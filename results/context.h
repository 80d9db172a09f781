// The context block of every record t5scale writes (STYLE.md, Google Benchmark's JSON): date, host,
// CPU, threads (this process's), MPI ranks and threads per rank, build type, compiler, library versions,
// git commit, and where a Slurm job ran it.
#pragma once

#include <nlohmann/json.hpp>

namespace t5 {

// `ranks`: the MPI ranks of the job that ran (issue 15; threads_per_rank is this process's).
nlohmann::json run_context(int ranks = 1);

// The Slurm job this process runs in, from the environment Slurm sets for a batch job
// (SLURM_JOB_ID, SLURM_ARRAY_JOB_ID, SLURM_ARRAY_TASK_ID, SLURM_CLUSTER_NAME, SLURMD_NODENAME):
// {"job_id": "12", "array_job_id": "11", "array_task_id": 1, "task": "11_1", "cluster", "node"}, the
// keys whose variable is set; an empty object outside Slurm. run_context() carries it as "slurm"
// when it is not empty (records written outside Slurm, and older ones, have no such key).
nlohmann::json slurm_context();

}  // namespace t5
