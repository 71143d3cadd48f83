// The ring forward (attn/dist/ring_attention.h).
#include <mpi.h>

#include <limits>
#include <vector>

#include "attn/dist/ring_attention.h"
#include "attn/kernels/attention.h"
#include "dist/kv_block.h"
#include "dist/lse_merge.h"
#include "dist/ring_blocks.h"
#include "dist/ring_messages.h"

namespace attn::dist {

namespace {

// The running result of this rank's queries and the buffers of one pair's partial result.
struct ForwardState {
  RowShape out_shape;           // [B, Hq, *, Dv]
  std::vector<double> lse;      // [B, Hq, L/P], −inf until a key is seen
  std::vector<float> part_out;  // [B, Hq, chunk, Dv]
  std::vector<float> part_lse;  // [B, Hq, chunk]
};

// Zeroes p.out (rows that see no key stay 0) and sets up the merge buffers.
ForwardState start_forward(const AttentionParams& p, const ShardLayout& layout) {
  ForwardState s{{p.batch, p.q_heads, p.v_head_dim}, {}, {}, {}};
  const int64_t rows = layout.shard_len(), chunk = layout.chunk_len();
  s.lse.assign(static_cast<size_t>(p.batch * p.q_heads * rows),
               -std::numeric_limits<double>::infinity());
  s.part_out.resize(static_cast<size_t>(s.out_shape.elements(chunk)));
  s.part_lse.resize(static_cast<size_t>(p.batch * p.q_heads * chunk));
  zero_rows(s.out_shape, rows, p.out, p.out_stride);
  return s;
}

// One visible pair: the flash forward on it, merged into the running result.
void forward_pair(const AttentionParams& p, const ShardLayout& layout, int rank, int source,
                  const ChunkPair& pair, const KvView& block, ForwardState& s) {
  BlockCall call(p, layout, rank, source, pair.q_chunk, pair.k_chunk);
  call.point_kv(block.k, block.k_stride, block.v, block.v_stride);
  const int64_t chunk = layout.chunk_len();
  AttentionParams& b = call.params();
  b.out = s.part_out.data();
  b.out_stride = bhld_strides(p.q_heads, chunk, p.v_head_dim);
  b.lse = s.part_lse.data();
  b.lse_stride = {p.q_heads * chunk, chunk, 1, 0};
  flash_attention_forward(b);
  merge_partial(s.out_shape, chunk, s.part_out.data(), s.part_lse.data(), p.out, p.out_stride,
                s.lse.data(), layout.shard_len(), pair.q_chunk * chunk);
}

// p.lse ← the merged log-sum-exp.
void write_lse(const AttentionParams& p, const std::vector<double>& lse, int64_t rows) {
  if (!p.lse) return;
  for (int64_t b = 0; b < p.batch; ++b) {
    for (int64_t h = 0; h < p.q_heads; ++h) {
      for (int64_t i = 0; i < rows; ++i) {
        p.lse[p.lse_stride.offset(b, h, i, 0)] =
            static_cast<float>(lse[(b * p.q_heads + h) * rows + i]);
      }
    }
  }
}

}  // namespace

RingStats ring_attention_forward(const AttentionParams& p, const Ring& ring) {
  const double start = MPI_Wtime();
  int rank = 0, ranks = 1;
  MPI_Comm_rank(ring.comm, &rank);
  MPI_Comm_size(ring.comm, &ranks);
  const ShardLayout layout{p.q_len * ranks, ranks, ring.sharding};
  validate_ring(p, layout, ring.comm);

  const KvBlockShape kv = KvBlockShape::of(p);
  const BlockMessages block_messages(kv);
  KvBuffer packed;
  const KvView own = own_block(p, kv, packed);
  // The blocks received at odd and even steps (the second is touched only from P = 3 on).
  const KvBuffer received[2] = {unset_buffer(kv.floats()), unset_buffer(kv.floats())};
  ForwardState state = start_forward(p, layout);

  RingStats stats;
  stats.steps = ring_steps(p, layout);
  const int next = (rank + 1) % ranks, prev = (rank + ranks - 1) % ranks;
  for (int64_t t = 0; t < stats.steps; ++t) {
    const KvView block = t == 0 ? own : buffer_view(received[t % 2].get(), kv);
    RingMessages messages(ring.comm);
    if (t + 1 < stats.steps) {  // the next step's block arrives while this one is computed
      const int tag = static_cast<int>(t);
      block_messages.receive(messages, received[(t + 1) % 2].get(), kv.k_floats(), prev, tag);
      block_messages.send(messages, block, next, tag);
      stats.bytes_sent += kv.floats() * int64_t{sizeof(float)};
    }
    const int source = block_source(rank, t, ranks);
    for (const ChunkPair& pair : visible_pairs(p, layout, rank, t)) {
      forward_pair(p, layout, rank, source, pair, block, state);
      messages.poll();
      ++stats.blocks;
    }
    stats.wait_seconds += messages.wait();
  }
  write_lse(p, state.lse, layout.shard_len());
  stats.seconds = MPI_Wtime() - start;
  return stats;
}

}  // namespace attn::dist
