// attn — the command-line tool of the attn library.
//
// Every failure ends as one line `attn: <message>` on stderr and a non-zero exit status: 2 for a
// mistake in the command line, 1 for anything else (bad input files, shapes, models).

#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>
#include <new>
#include <string>

#include "attn/core/error.h"
#include "cli_kit.h"
#include "commands.h"

namespace {

// Prints `attn: message` as one line on stderr and returns `status`.
int fail(std::string message, int status = attn::cli::kExitFailure) {
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!message.empty() && message.back() == ' ') message.pop_back();
  std::cerr << "attn: " << message << std::endl;
  return status;
}

}  // namespace

int main(int argc, char** argv) {
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
