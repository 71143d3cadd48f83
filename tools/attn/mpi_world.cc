// The MPI job the attn tool runs in (mpi_world.h).
#include "mpi_world.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#ifdef ATTN_WITH_DIST
#include <mpi.h>

#include "attn/dist/abort_on_error.h"
#endif

namespace attn::cli {

namespace {

World g_world;

// The variables the launchers of OpenMPI, MPICH and PMIx set in every process they start.
bool launched_by_mpirun() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

}  // namespace

const World& world() { return g_world; }

#ifdef ATTN_WITH_DIST

bool built_with_mpi() { return true; }

std::shared_ptr<void> start_world(int* argc, char*** argv) {
  if (!launched_by_mpirun()) return nullptr;
  auto session = std::make_shared<dist::MpiSession>(argc, argv);
  g_world.rank = session->rank();
  g_world.size = session->size();
  g_world.in_mpi_job = true;
  return session;
}

namespace {

// The message of the attn::Error that step throws; empty when it returns.
std::string error_of(const std::function<void()>& step) {
  try {
    step();
  } catch (const Error& e) {
    return e.what();
  }
  return {};
}

// `error` as rank `root` holds it, on every rank.
std::string broadcast(std::string error, int root) {
  int length = static_cast<int>(error.size());
  MPI_Bcast(&length, 1, MPI_INT, root, MPI_COMM_WORLD);
  error.resize(static_cast<size_t>(length));
  MPI_Bcast(error.data(), length, MPI_CHAR, root, MPI_COMM_WORLD);
  return error;
}

}  // namespace

void run_on_leader(const std::function<void()>& step) {
  std::string error = g_world.leads() ? error_of(step) : std::string();
  if (g_world.distributed()) error = broadcast(std::move(error), 0);
  if (!error.empty()) throw JobError(error);
}

void run_on_every_rank(const std::function<void()>& step) {
  const std::string error = error_of(step);
  if (!g_world.distributed()) {
    if (!error.empty()) throw JobError(error);
    return;
  }
  const int mine = error.empty() ? g_world.size : g_world.rank;
  int first = 0;  // the lowest failed rank, or size when none failed
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (first < g_world.size) throw JobError(broadcast(error, first));
}

void abort_job_if_distributed(const char* message, int status) {
  if (!g_world.distributed()) return;
  std::fprintf(stderr, "attn: rank %d of %d failed: %s\n", g_world.rank, g_world.size, message);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, status);
  std::abort();  // not reached: MPI_Abort ends the process
}

#else

bool built_with_mpi() { return false; }

std::shared_ptr<void> start_world(int*, char***) {
  (void)launched_by_mpirun;
  return nullptr;
}

void run_on_leader(const std::function<void()>& step) {
  try {
    step();
  } catch (const Error& e) {
    throw JobError(e.what());
  }
}

void run_on_every_rank(const std::function<void()>& step) { run_on_leader(step); }

void abort_job_if_distributed(const char*, int) {}

#endif

}  // namespace attn::cli
