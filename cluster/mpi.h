// MPI for data-parallel training (issue 15): the process's place in an `mpirun -np K` (or
// `srun --mpi=pmix`) job, MPI_Init/MPI_Finalize around a command, and t5::Collective over
// MPI_COMM_WORLD (MPI_Allreduce of the gradient buffer). OpenMPI from Debian; MPI is optional at build
// time (CMake option T5SCALE_MPI, on when find_package(MPI) finds it): a binary built without it that a
// launcher starts as one of K > 1 processes refuses with one line instead of training K copies.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/collective.h"
#include "core/error.h"

namespace t5::cluster {

// An error every rank raises identically (core/collective.h): rank 0 alone prints it.
using SameOnEveryRank = t5::SameOnEveryRank;

// What the launcher's environment says about this process: OMPI_COMM_WORLD_{SIZE,RANK} (Open MPI's
// mpirun), PMIX_RANK with SLURM_STEP_NUM_TASKS (srun --mpi=pmix), PMI_{SIZE,RANK}. size 1 and
// launched false when no launcher started it. A malformed value is an error naming the variable.
struct Launch {
  bool launched = false;
  int size = 1;
  int rank = 0;
};
Launch launch_from_environment();

// What a build without MPI does when launched: throws SameOnEveryRank for K > 1 ranks.
void refuse_without_mpi(const Launch& launch);

bool mpi_built();             // compiled with MPI (T5SCALE_MPI)
std::string mpi_library();    // "Open MPI v4.1.4, ..." or "none (built without MPI)"

// MPI for the life of one command. Initialises MPI when a launcher started the process (never
// otherwise: a plain `t5scale train` needs no MPI daemon), finalises it on destruction.
// Throws SameOnEveryRank when the launch asks for K > 1 ranks from a build without MPI.
class MpiSession {
 public:
  MpiSession();
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // The collective over every rank; null for a single process (also under `mpirun -np 1`).
  Collective* collective() { return collective_.get(); }
  // Every rank's hostname, in rank order (a collective call: every rank must make it).
  std::vector<std::string> hostnames();
  // Ends every rank of the job with `code` (after an error on one rank that the others cannot know
  // of, they may wait in a collective forever).
  [[noreturn]] void abort(int code);

 private:
  bool initialized_ = false;
  int rank_ = 0, size_ = 1;
  std::unique_ptr<Collective> collective_;
};

// The session main() opened for the running command (null outside one), so commands can ask for the
// collective without threading it through every signature.
MpiSession* current_session();

// Checks a command that does not run data-parallel is not started as K > 1 ranks.
void require_single_process(const std::string& command);

}  // namespace t5::cluster
