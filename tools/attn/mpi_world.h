// The MPI job the attn tool runs in. When attn is built with attn_dist (MPI) and launched by
// mpirun (or mpiexec), main initialises MPI for the whole run and every command sees the job's
// size and its own rank here; otherwise the world is one process, rank 0 of 1, and MPI is never
// initialised.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "attn/core/error.h"

namespace attn::cli {

struct World {
  int rank = 0;
  int size = 1;
  bool in_mpi_job = false;  // launched by mpirun with MPI started (also with one rank)
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

// A failure that every rank of the job learned of at the same point (bad input that the leading
// rank read and announced): main prints it once, from rank 0, and every rank exits with status 1
// without aborting the job.
class JobError : public Error {
 public:
  explicit JobError(const std::string& message) : Error(message) {}
};

// Runs `step` on the leading rank only and lets every rank know how it went: if it throws
// attn::Error, every rank throws JobError with its message; otherwise every rank returns.
// Collective under mpirun; in one process it just runs `step`.
void run_on_leader(const std::function<void()>& step);

// Runs `step` on every rank and lets every rank know how it went: if it throws attn::Error on
// any rank, every rank throws JobError with the message of the lowest such rank (so an input
// that every rank reads and finds bad is reported once). `step` must not communicate.
// Collective under mpirun; in one process it just runs `step`.
void run_on_every_rank(const std::function<void()>& step);

// Ends the whole job after a failure of this rank: prints `attn: [rank R of P] message` and
// calls MPI_Abort with `status` when the world is distributed; returns otherwise (the caller
// prints and exits as usual).
void abort_job_if_distributed(const char* message, int status);

}  // namespace attn::cli
