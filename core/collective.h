// The collective operations data-parallel training needs (issue 15), as an interface core/ can call
// without knowing MPI: cluster/mpi.h implements it over MPI_COMM_WORLD. The trainer gives each of the
// `size()` ranks a disjoint slice of the rows of every micro-batch and sums the gradients with sum()
// before the norm and the optimizer step (core/trainer.h TrainConfig::collective).
#pragma once

#include <cstdint>
#include <utility>

#include "core/error.h"

namespace t5 {

// An error every rank raises identically: from the command line and the launch alone, or from the
// result of a collective operation (an agreement check). Rank 0 alone prints it, so K ranks give one
// line, not K, and every rank ends normally (none is left waiting in a collective).
class SameOnEveryRank : public Error {
 public:
  using Error::Error;
};

// What the collective operations cost so far (the benchmark's allreduce cost per step).
struct CollectiveStats {
  int64_t calls = 0;      // sum() calls
  int64_t bytes = 0;      // payload bytes summed (each rank's buffer, not the wire traffic)
  double seconds = 0;     // wall time inside sum(), waiting for the slowest rank included
};

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;   // 0 .. size()-1; rank 0 alone writes files
  virtual int size() const = 0;
  // Element-wise sum over all ranks, in place; every rank ends with the same values (a failed peer
  // is a t5::Error, not a hang, where the transport can tell).
  virtual void sum(float* values, int64_t count) = 0;
  virtual void sum(double* values, int64_t count) = 0;
  // The smallest and the largest of `value` over all ranks (agreement checks: equal = all agree).
  virtual std::pair<uint64_t, uint64_t> min_max(uint64_t value) = 0;
  virtual CollectiveStats stats() const = 0;
};

}  // namespace t5
