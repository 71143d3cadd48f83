// Failure of one rank stops the whole job: a rank that throws must not leave the others waiting
// for its messages forever.
#pragma once

#include <mpi.h>

#include <functional>

namespace attn::dist {

// Runs fn and returns its result. If fn throws, prints "attn: rank R of P failed: <what>" on
// stderr and calls MPI_Abort on comm, which ends every rank of the job.
int run_or_abort(MPI_Comm comm, const std::function<int()>& fn);

// MPI_Init_thread (MPI_THREAD_FUNNELED: only the main thread calls MPI, the OpenMP threads
// compute) and MPI_Finalize.
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int rank() const;
  int size() const;
};

}  // namespace attn::dist
