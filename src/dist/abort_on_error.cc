// A failing rank ends the job (attn/dist/abort_on_error.h).
#include "attn/dist/abort_on_error.h"

#include <cstdio>
#include <cstdlib>
#include <exception>

#include "attn/core/error.h"

namespace attn::dist {

namespace {

[[noreturn]] void abort_job(MPI_Comm comm, const char* what) {
  int rank = 0, size = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  std::fprintf(stderr, "attn: rank %d of %d failed: %s\n", rank, size, what);
  std::fflush(stderr);
  MPI_Abort(comm, 1);
  std::abort();  // not reached: MPI_Abort ends the process
}

}  // namespace

int run_or_abort(MPI_Comm comm, const std::function<int()>& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    abort_job(comm, e.what());
  } catch (...) {
    abort_job(comm, "unknown exception");
  }
}

MpiSession::MpiSession(int* argc, char*** argv) {
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  if (provided < MPI_THREAD_FUNNELED) {
    abort_job(MPI_COMM_WORLD, "the MPI library does not support MPI_THREAD_FUNNELED");
  }
}

MpiSession::~MpiSession() { MPI_Finalize(); }

int MpiSession::rank() const {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int MpiSession::size() const {
  int s = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

}  // namespace attn::dist
