// --sharding of the commands that run ring attention under mpirun (`attn sdpa`, `attn bench
// --case ring`): how the sequence is cut among the ranks. The names of attn/dist/sharding.h's
// Sharding, declared here so that the tool builds without MPI.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli_kit.h"

#ifdef ATTN_WITH_DIST
#include "attn/dist/sharding.h"
#endif

namespace attn::cli {

enum class RingSharding {
  kContiguous,  // rank r holds rows [r·L/P, (r+1)·L/P)
  kZigzag,      // rank r holds chunks r and 2P−1−r of 2P: balanced causal work
};

inline const Choices<RingSharding> kRingShardings = {{"contiguous", RingSharding::kContiguous},
                                                     {"zigzag", RingSharding::kZigzag}};

// --sharding, default zigzag; `help` says when the option applies.
inline CLI::Option* add_sharding_option(CLI::App& cmd, RingSharding& sharding,
                                        const std::string& help) {
  sharding = RingSharding::kZigzag;
  return add_choice_option(cmd, "--sharding", sharding, kRingShardings, help + " (default zigzag)");
}

#ifdef ATTN_WITH_DIST
inline dist::Sharding to_dist(RingSharding s) {
  return s == RingSharding::kZigzag ? dist::Sharding::kZigzag : dist::Sharding::kContiguous;
}
#endif

}  // namespace attn::cli
