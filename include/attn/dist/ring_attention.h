// Ring attention over MPI: the flash kernels on a sequence sharded across the ranks of a
// communicator (Liu et al. 2023, "Ring Attention with Blockwise Transformers").
//
// Each rank holds the rows of its shard (attn/dist/sharding.h) of Q, K, V and of the outputs.
// The K/V block of every rank travels round the ring (rank r sends to r+1 and receives from
// r−1) with non-blocking messages while the flash kernel works on the block in hand; each
// (query chunk, key chunk) pair that the masks leave visible is one flash call at its global
// indices (AttentionParams' query_start and key_start), and the partial outputs merge by their
// log-sum-exp in the order of the ring steps. The backward sends each block's dK/dV partial sums
// round the ring with it, in the same order, and accumulates dQ locally.
//
// Exact: the result is that of the whole problem, within the rounding of the merges, and bitwise
// identical from run to run and for any number of threads per rank at a fixed P.
#pragma once

#include <mpi.h>

#include <cstdint>

#include "attn/core/attention_params.h"
#include "attn/dist/sharding.h"
#include "attn/kernels/attention.h"

namespace attn::dist {

// The communicator and the sharding of a ring; P is the communicator's size.
struct Ring {
  MPI_Comm comm = MPI_COMM_WORLD;
  Sharding sharding = Sharding::kZigzag;
};

// What one call did and how long it waited.
struct RingStats {
  double seconds = 0;       // wall time of the call
  double wait_seconds = 0;  // time blocked on messages (not hidden behind compute)
  int64_t steps = 0;        // ring steps run (P, or fewer when a window ends the ring early)
  int64_t blocks = 0;       // flash calls on (query chunk, key chunk) pairs
  int64_t bytes_sent = 0;   // bytes this rank sent
};

// The ring forward. p describes this rank's shard: q, k, v and out hold its L/P rows in any
// layout (q_len = kv_len = L/P); lse [B, Hq, L/P] is optional. Every option refers to the whole
// sequence of L rows: the causal diagonal, windows and ALiBi at global positions, key_lengths
// in [0, L], the dropout mask at global indices. Masks (bool_mask, additive_mask) are not
// supported, nor key_lengths with a causal or windowed bottom-right alignment (use kTopLeft);
// query_start and key_start must be 0. Collective over ring.comm; throws attn::Error on bad
// input.
RingStats ring_attention_forward(const AttentionParams& p, const Ring& ring);

// The ring backward: g's dq [B, Hq, L/P, D], dk [B, Hkv, L/P, D] and dv [B, Hkv, L/P, Dv] of
// this rank's shard, from dout. p.out and p.lse (required) hold what ring_attention_forward
// wrote for the same inputs. Collective over ring.comm.
RingStats ring_attention_backward(const AttentionParams& p, const AttentionGrads& g,
                                  const Ring& ring);

}  // namespace attn::dist
