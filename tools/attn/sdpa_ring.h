// `attn sdpa` under mpirun with P > 1: ring attention over the ranks of the job (attn_dist).
//
// Rank 0 reads and checks the input files (any failure is announced to every rank and printed
// once), broadcasts the sizes, key lengths and ALiBi slopes and scatters the shards of Q, K, V
// (and dO); every rank runs the ring forward (and backward); rank 0 gathers the outputs and
// writes them, each atomically. The result is the single-process flash kernel's, within
// rounding, and bitwise the same from run to run.
#pragma once

#include <functional>
#include <string>

#include "attn/core/attention_params.h"
#include "ring_sharding.h"
#include "sdpa_inputs.h"

namespace attn::cli {

// What `attn sdpa` reads, computes and writes, once its command line is checked. The same on
// every rank (each parsed the same command line).
struct SdpaRingJob {
  SdpaFiles files;  // q, k, v and the optional key lengths, ALiBi slopes and dout; no mask
  std::string out, lse, dq, dk, dv;  // output paths; all but out are optional (dq, dk, dv need
                                     // files.dout)
  RingSharding sharding = RingSharding::kZigzag;
  // Sets the options of the command line (scale, softcap, dropout, causal, windows) on params.
  std::function<void(AttentionParams&)> apply_options;
};

// Runs the job on every rank of the world; collective. Throws JobError (every rank) on bad input
// files, attn::Error on a failure of this rank alone.
void run_sdpa_ring(const SdpaRingJob& job);

}  // namespace attn::cli
