// The MPI job the attn tool runs in (mpi_world.h).
#include "mpi_world.h"

#include <cstdio>
#include <cstdlib>

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
  return session;
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

void abort_job_if_distributed(const char*, int) {}

#endif

}  // namespace attn::cli
