// The ring backward (attn/dist/ring_attention.h).
//
// At step t rank r holds the K/V block of rank s = r − t and the running sum of that block's
// dK/dV over ranks s, s+1, …, r−1. It adds its own share (all its visible pairs with the block,
// summed first into a local buffer) and passes the sum on with the block; after the last step the
// sum goes home to rank s. dQ accumulates in place. Every sum runs in a fixed order, so the
// gradients are bitwise identical from run to run.
#include <mpi.h>

#include <algorithm>
#include <vector>

#include "attn/core/error.h"
#include "attn/dist/ring_attention.h"
#include "attn/kernels/attention.h"
#include "dist/kv_block.h"
#include "dist/mpi_types.h"
#include "dist/ring_blocks.h"
#include "dist/ring_messages.h"

namespace attn::dist {

namespace {

// One pair's gradients, [B, H, chunk, dim] each.
struct PairGrads {
  std::vector<float> dq, dk, dv;
};

// One visible pair: the flash backward on it, into parts.
void pair_gradients(const AttentionParams& p, const AttentionGrads& g, const ShardLayout& layout,
                    int rank, int source, const ChunkPair& pair, const KvView& block,
                    PairGrads& parts) {
  const int64_t chunk = layout.chunk_len(), q0 = pair.q_chunk * chunk;
  BlockCall call(p, layout, rank, source, pair.q_chunk, pair.k_chunk);
  call.point_kv(block.k, block.k_stride, block.v, block.v_stride);
  AttentionParams& b = call.params();
  b.out = p.out + p.out_stride.offset(0, 0, q0, 0);
  b.out_stride = p.out_stride;
  b.lse = p.lse + p.lse_stride.offset(0, 0, q0, 0);
  b.lse_stride = p.lse_stride;
  AttentionGrads gb;
  gb.dout = g.dout + g.dout_stride.offset(0, 0, q0, 0);
  gb.dout_stride = g.dout_stride;
  gb.dq = parts.dq.data();
  gb.dq_stride = bhld_strides(p.q_heads, chunk, p.head_dim);
  gb.dk = parts.dk.data();
  gb.dk_stride = bhld_strides(p.kv_heads, chunk, p.head_dim);
  gb.dv = parts.dv.data();
  gb.dv_stride = bhld_strides(p.kv_heads, chunk, p.v_head_dim);
  gb.plan = g.plan;
  // A pair sees a part of each row's keys unless the whole sequence is one chunk.
  gb.partial_keys = layout.ranks * layout.chunks_per_rank() > 1;
  flash_attention_backward(b, gb);
}

// The pair's parts added: dq into g.dq, dk and dv into the block's running sums (K/V-shaped).
void add_pair(const AttentionParams& p, const AttentionGrads& g, const ShardLayout& layout,
              const ChunkPair& pair, const KvBlockShape& kv, const PairGrads& parts, float* sum) {
  const int64_t chunk = layout.chunk_len();
  add_rows({p.batch, p.q_heads, p.head_dim}, chunk, parts.dq.data(),
           bhld_strides(p.q_heads, chunk, p.head_dim), 0, g.dq, g.dq_stride, pair.q_chunk * chunk);
  const int64_t k0 = pair.k_chunk * chunk;
  add_rows(kv.k, chunk, parts.dk.data(), bhld_strides(kv.k.heads, chunk, kv.k.dim), 0, sum,
           kv.k_stride(), k0);
  add_rows(kv.v, chunk, parts.dv.data(), bhld_strides(kv.v.heads, chunk, kv.v.dim), 0,
           sum + kv.k_floats(), kv.v_stride(), k0);
}

// g.dk, g.dv ← the K/V-shaped block of gradients.
void write_kv_grads(const AttentionGrads& g, const KvBlockShape& kv, const float* sums) {
  copy_rows(kv.k, kv.rows, sums, bhld_strides(kv.k.heads, kv.rows, kv.k.dim), 0, g.dk, g.dk_stride,
            0);
  copy_rows(kv.v, kv.rows, sums + kv.k_floats(), bhld_strides(kv.v.heads, kv.rows, kv.v.dim), 0,
            g.dv, g.dv_stride, 0);
}

void validate_grads(const AttentionParams& p, const AttentionGrads& g) {
  ATTN_CHECK(p.lse, "ring attention backward: p.lse must hold the forward's log-sum-exp");
  ATTN_CHECK(g.dout && g.dq && g.dk && g.dv,
             "ring attention backward: dout, dq, dk and dv must be set");
}

}  // namespace

RingStats ring_attention_backward(const AttentionParams& p, const AttentionGrads& g,
                                  const Ring& ring) {
  const double start = MPI_Wtime();
  int rank = 0, ranks = 1;
  MPI_Comm_rank(ring.comm, &rank);
  MPI_Comm_size(ring.comm, &ranks);
  const ShardLayout layout{p.q_len * ranks, ranks, ring.sharding};
  validate_grads(p, g);
  validate_ring(p, layout, ring.comm);

  const KvBlockShape kv = KvBlockShape::of(p);
  const BlockMessages block_messages(kv);
  // The dK/dV sums travel as rows of D + Dv floats.
  const RowType row(kv.k.dim + kv.v.dim);
  const int count = RowType::count(kv.k.batch * kv.k.heads * kv.rows);
  const size_t floats = static_cast<size_t>(kv.floats());
  KvBuffer packed;
  const KvView own = own_block(p, kv, packed);
  // K/V blocks received and dK/dV sums in flight, left unset until written.
  const KvBuffer received[2] = {unset_buffer(floats), unset_buffer(floats)};
  const KvBuffer sums[2] = {unset_buffer(floats), unset_buffer(floats)};
  const int64_t chunk = layout.chunk_len();
  PairGrads parts{std::vector<float>(p.batch * p.q_heads * chunk * p.head_dim),
                  std::vector<float>(kv.k.elements(chunk)),
                  std::vector<float>(kv.v.elements(chunk))};
  zero_rows({p.batch, p.q_heads, p.head_dim}, layout.shard_len(), g.dq, g.dq_stride);

  RingStats stats;
  stats.steps = ring_steps(p, layout);
  const int64_t last = stats.steps - 1;
  const int next = (rank + 1) % ranks, prev = (rank + ranks - 1) % ranks;
  const int home_from = static_cast<int>((rank + last) % ranks);  // sends this rank's sums home
  RingMessages messages(ring.comm);
  RingMessages sum_in(ring.comm);  // the running sums of the step's block
  for (int64_t t = 0; t <= last; ++t) {
    const int tag = static_cast<int>(2 * t);
    float* sum = sums[t % 2].get();
    const KvView block = t == 0 ? own : buffer_view(received[t % 2].get(), kv);
    if (t < last) {
      block_messages.receive(messages, received[(t + 1) % 2].get(), kv.k_floats(), prev, tag);
      block_messages.send(messages, block, next, tag);
      stats.bytes_sent += kv.floats() * int64_t{sizeof(float)};
    }
    if (t > 0) {
      sum_in.receive(sum, count, row.type(), prev, tag + 1);
    } else {
      std::fill(sum, sum + floats, 0.0f);
    }
    const int source = block_source(rank, t, ranks);
    for (const ChunkPair& pair : visible_pairs(p, layout, rank, t)) {
      pair_gradients(p, g, layout, rank, source, pair, block, parts);
      stats.wait_seconds += sum_in.wait();  // the sums must be here before they grow
      add_pair(p, g, layout, pair, kv, parts, sum);
      messages.poll();
      ++stats.blocks;
    }
    stats.wait_seconds += sum_in.wait() + messages.wait();
    if (last == 0) break;
    // The sum goes on to the next rank, or after the last step home to the block's owner; this
    // rank's own sums come home from the rank that held its block last.
    messages.send(sum, count, row.type(), t < last ? next : source, tag + 3);
    stats.bytes_sent += kv.floats() * int64_t{sizeof(float)};
    if (t == last)
      messages.receive(received[(t + 1) % 2].get(), count, row.type(), home_from, tag + 3);
  }
  stats.wait_seconds += messages.wait();
  write_kv_grads(g, kv, last == 0 ? sums[0].get() : received[(last + 1) % 2].get());
  stats.seconds = MPI_Wtime() - start;
  return stats;
}

}  // namespace attn::dist
