// attn — the command-line tool of the attn library.
//
// Every failure ends as one line `attn: <message>` on stderr and a non-zero exit status: 2 for a
// mistake in the command line, 1 for anything else (bad input files, shapes, models). Under
// mpirun a usage error, or bad input that rank 0 read and announced to every rank, is printed
// once (by rank 0) and every rank exits; any other failure of one rank ends the whole job
// through MPI_Abort, so that no rank waits forever for a message of the failed one.

#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>
#include <memory>
#include <new>
#include <string>

#include "attn/core/error.h"
#include "cli_kit.h"
#include "commands.h"
#include "mpi_world.h"

namespace {

// Prints `attn: message` as one line on stderr and returns `status`. A failure that every rank
// knows of (`whole_job`) is printed by rank 0 alone, as a usage error is; any other ends the job.
int fail(std::string message, int status = attn::cli::kExitFailure, bool whole_job = false) {
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!message.empty() && message.back() == ' ') message.pop_back();
  const attn::cli::World& world = attn::cli::world();
  if (status == attn::cli::kExitUsage || whole_job) {
    if (!world.leads()) return status;
  } else {
    attn::cli::abort_job_if_distributed(message.c_str(), status);
  }
  std::cerr << "attn: " << message << std::endl;
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  const std::shared_ptr<void> mpi = attn::cli::start_world(&argc, &argv);
  CLI::App app{"Scaled dot-product attention on the CPU.", "attn"};
  app.set_version_flag("--version", "attn " ATTN_VERSION);
  app.require_subcommand(1);
  attn::cli::add_sdpa_command(app);
  attn::cli::add_bench_command(app);
  attn::cli::add_train_command(app);
  attn::cli::add_generate_command(app);
  attn::cli::add_seq2seq_command(app);
  attn::cli::add_viz_command(app);
  attn::cli::add_classify_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {  // includes attn::cli::UsageError
    return fail(e.what(), attn::cli::kExitUsage);
  } catch (const attn::cli::JobError& e) {
    return fail(e.what(), attn::cli::kExitFailure, /*whole_job=*/true);
  } catch (const attn::Error& e) {
    return fail(e.what());
  } catch (const std::bad_alloc&) {
    return fail("out of memory");
  } catch (const std::exception& e) {
    return fail(e.what());
  } catch (...) {
    return fail("unexpected error");
  }
  return 0;
}
