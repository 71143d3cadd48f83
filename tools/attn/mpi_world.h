// The MPI job the attn tool runs in. When attn is built with attn_dist (MPI) and launched by
// mpirun (or mpiexec), main initialises MPI for the whole run and every command sees the job's
// size and its own rank here; otherwise the world is one process, rank 0 of 1, and MPI is never
// initialised.
#pragma once

#include <memory>

namespace attn::cli {

struct World {
  int rank = 0;
  int size = 1;
  bool distributed() const { return size > 1; }
  bool leads() const { return rank == 0; }  // the rank that reads inputs, prints and writes
};

// The world of this run (one process until start_world has found an MPI job).
const World& world();

// True when built with attn_dist: the tool can run under mpirun.
bool built_with_mpi();

// Starts MPI when the process was launched by mpirun (its environment says so) and attn was
// built with MPI; the returned guard finalises MPI when it goes out of scope. Without both,
// does nothing and returns a null guard.
std::shared_ptr<void> start_world(int* argc, char*** argv);

// Ends the whole job after a failure of this rank: prints `attn: [rank R of P] message` and
// calls MPI_Abort with `status` when the world is distributed; returns otherwise (the caller
// prints and exits as usual).
void abort_job_if_distributed(const char* message, int status);

}  // namespace attn::cli
