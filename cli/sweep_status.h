// What `t5scale status DIR` and `t5scale sweep SPEC --status` print (cli/cmd_status.cpp): the sweep's
// variants done / running / failed / pending (sweeps/status.h), the Slurm jobs submitted for it
// (cluster/slurm.h, results/NAME/slurm/jobs.jsonl) with what squeue or scontrol says of them, and the ETA.
#pragma once

#include <string>

namespace t5::cli {

// Prints the status of the sweep whose results are in `out_dir` (its spec.json names the variants):
// text, or one JSON object when `as_json`. Returns the exit code (0). Throws t5::Error when `out_dir`
// holds no sweep.
int show_sweep_status(const std::string& out_dir, bool as_json);

}  // namespace t5::cli
