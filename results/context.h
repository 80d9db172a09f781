// The context block of every record t5scale writes (STYLE.md, Google Benchmark's JSON): date, host,
// CPU, threads (this process's), MPI ranks and threads per rank, build type, compiler, library versions and git commit.
#pragma once

#include <nlohmann/json.hpp>

namespace t5 {

// `ranks`: the MPI ranks of the job that ran (issue 15; threads_per_rank is this process's).
nlohmann::json run_context(int ranks = 1);

}  // namespace t5
