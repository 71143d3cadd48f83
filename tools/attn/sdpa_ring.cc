// `attn sdpa` under mpirun (sdpa_ring.h). Compiled always; without attn_dist (MPI) the tool never
// runs distributed and run_sdpa_ring is unreachable.
#include "sdpa_ring.h"

#include "attn/core/error.h"
#include "mpi_world.h"

#ifdef ATTN_WITH_DIST
#include <mpi.h>

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "attn/dist/ring_attention.h"
#include "attn/dist/sharding.h"
#include "attn/io/npy.h"
#endif

namespace attn::cli {

#ifdef ATTN_WITH_DIST

namespace {

// The sizes of the whole problem; Lq = Lk = len.
struct RingSizes {
  int64_t batch = 0, q_heads = 0, kv_heads = 0, len = 0, dim = 0, dim_v = 0;
};

// Reads and checks the inputs (rank 0): those of `attn sdpa`, and what the ring adds: Q and K
// are one sequence (Lq = Lk), whose length the sharding can cut.
SdpaInputs load_ring_inputs(const SdpaRingJob& job, int ranks) {
  SdpaInputs in = load_sdpa_inputs(job.files);
  ATTN_CHECK(in.q.len == in.k.len, in.k.name,
             ": under mpirun the keys are the queries' sequence, cut among the ranks alike, so "
             "their length must be the queries' length ",
             in.q.len, ", got ", in.k.len, " (shapes ", shape_string(in.q.file_shape), " and ",
             shape_string(in.k.file_shape), ")");
  try {
    dist::validate(dist::ShardLayout{in.q.len, ranks, to_dist(job.sharding)});
  } catch (const Error& e) {
    throw Error(in.q.name + ": " + e.what());
  }
  return in;
}

// Rank 0's sizes, on every rank.
RingSizes broadcast_sizes(const SdpaInputs& whole) {
  std::array<int64_t, 6> s = {whole.q.batch, whole.q.heads, whole.k.heads,
                              whole.q.len,   whole.q.dim,   whole.v.dim};
  MPI_Bcast(s.data(), static_cast<int>(s.size()), MPI_INT64_T, 0, MPI_COMM_WORLD);
  return {s[0], s[1], s[2], s[3], s[4], s[5]};
}

// Rank 0's `x` of `n` elements, on every rank.
template <typename T>
std::vector<T> broadcast_vector(std::vector<T> x, int64_t n, MPI_Datatype type) {
  x.resize(static_cast<size_t>(n));
  MPI_Bcast(x.data(), static_cast<int>(n), type, 0, MPI_COMM_WORLD);
  return x;
}

// t's elements as a contiguous [B, H, L, D] tensor: t's own when it is one (layout bhld), else
// a copy in `copy`.
const float* bhld_data(const HeadTensor& t, std::vector<float>& copy) {
  const Strides4 bhld = bhld_strides(t.heads, t.len, t.dim);
  if (t.stride.batch == bhld.batch && t.stride.head == bhld.head && t.stride.row == bhld.row) {
    return t.data.data();
  }
  copy.resize(t.data.size());
  dist::copy_rows({t.batch, t.heads, t.dim}, t.len, t.data.data(), t.stride, 0, copy.data(), bhld,
                  0);
  return copy.data();
}

// One rank's shard of every tensor, each contiguous [B, H, L/P, dim] (lse [B, Hq, L/P]).
struct Shards {
  std::vector<float> q, k, v, out, lse, dout, dq, dk, dv;
};

// A shard of `shape` (rows = L/P), scattered from rank 0's `whole` (read on rank 0 only).
std::vector<float> scatter(const dist::ShardLayout& layout, const dist::RowShape& shape,
                           const float* whole) {
  std::vector<float> shard(static_cast<size_t>(shape.elements(layout.shard_len())));
  dist::scatter_shards(MPI_COMM_WORLD, layout, shape, whole, shard.data());
  return shard;
}

// The input shards of every rank from rank 0's whole inputs, and room for the outputs.
Shards scatter_inputs(const SdpaRingJob& job, const SdpaInputs& whole, const RingSizes& s,
                      const dist::ShardLayout& layout) {
  const bool leads = world().leads();
  std::vector<float> copy;
  Shards shards;
  shards.q =
      scatter(layout, {s.batch, s.q_heads, s.dim}, leads ? bhld_data(whole.q, copy) : nullptr);
  shards.k =
      scatter(layout, {s.batch, s.kv_heads, s.dim}, leads ? bhld_data(whole.k, copy) : nullptr);
  shards.v =
      scatter(layout, {s.batch, s.kv_heads, s.dim_v}, leads ? bhld_data(whole.v, copy) : nullptr);
  const int64_t n = layout.shard_len();
  shards.out.resize(static_cast<size_t>(s.batch * s.q_heads * n * s.dim_v));
  const bool gradients = !job.files.dout.empty();
  if (!job.lse.empty() || gradients)
    shards.lse.resize(static_cast<size_t>(s.batch * s.q_heads * n));
  if (!gradients) return shards;
  shards.dout = scatter(layout, {s.batch, s.q_heads, s.dim_v}, whole.dout.data());
  shards.dq.resize(shards.q.size());
  shards.dk.resize(shards.k.size());
  shards.dv.resize(shards.v.size());
  return shards;
}

// The params of this rank's shards, with the job's options, key lengths and ALiBi slopes.
AttentionParams shard_params(const SdpaRingJob& job, Shards& x, const RingSizes& s, int64_t n,
                             const std::vector<int64_t>& key_lengths,
                             const std::vector<float>& alibi_slopes) {
  AttentionParams p =
      attention_params(ConstTensorView4::bhld(x.q.data(), s.batch, s.q_heads, n, s.dim),
                       ConstTensorView4::bhld(x.k.data(), s.batch, s.kv_heads, n, s.dim),
                       ConstTensorView4::bhld(x.v.data(), s.batch, s.kv_heads, n, s.dim_v),
                       TensorView4::bhld(x.out.data(), s.batch, s.q_heads, n, s.dim_v),
                       x.lse.empty() ? nullptr : x.lse.data());
  job.apply_options(p);
  p.key_lengths = key_lengths.empty() ? nullptr : key_lengths.data();
  p.alibi_slopes = alibi_slopes.empty() ? nullptr : alibi_slopes.data();
  return p;
}

// The gradients' views of this rank's shards.
AttentionGrads shard_grads(Shards& x, const RingSizes& s, int64_t n) {
  AttentionGrads g;
  g.dout = x.dout.data();
  g.dout_stride = bhld_strides(s.q_heads, n, s.dim_v);
  g.dq = x.dq.data();
  g.dq_stride = bhld_strides(s.q_heads, n, s.dim);
  g.dk = x.dk.data();
  g.dk_stride = bhld_strides(s.kv_heads, n, s.dim);
  g.dv = x.dv.data();
  g.dv_stride = bhld_strides(s.kv_heads, n, s.dim_v);
  return g;
}

// One output, gathered on rank 0 (data empty elsewhere), to be written there to `path`.
struct Gathered {
  std::string path;
  std::vector<float> data;
  std::vector<int64_t> shape;
};

// Gathers `shard` of `shape` into rank 0's whole tensor; nothing is gathered for an empty path.
void gather(const dist::ShardLayout& layout, const dist::RowShape& shape,
            const std::vector<float>& shard, const std::string& path,
            std::vector<Gathered>& outputs) {
  if (path.empty()) return;
  Gathered g{path, {}, {shape.batch, shape.heads, layout.seq_len, shape.dim}};
  if (world().leads()) g.data.resize(static_cast<size_t>(shape.elements(layout.seq_len)));
  dist::gather_shards(MPI_COMM_WORLD, layout, shape, shard.data(), g.data.data());
  outputs.push_back(std::move(g));
}

// Gathers every requested output, then (rank 0) writes each, atomically.
void gather_and_write(const SdpaRingJob& job, const Shards& x, const RingSizes& s,
                      const dist::ShardLayout& layout) {
  std::vector<Gathered> outputs;
  gather(layout, {s.batch, s.q_heads, s.dim_v}, x.out, job.out, outputs);
  gather(layout, {s.batch, s.q_heads, 1}, x.lse, job.lse, outputs);
  if (!job.lse.empty()) outputs.back().shape.pop_back();  // lse is [B, Hq, L]
  if (!job.files.dout.empty()) {
    gather(layout, {s.batch, s.q_heads, s.dim}, x.dq, job.dq, outputs);
    gather(layout, {s.batch, s.kv_heads, s.dim}, x.dk, job.dk, outputs);
    gather(layout, {s.batch, s.kv_heads, s.dim_v}, x.dv, job.dv, outputs);
  }
  if (!world().leads()) return;
  for (const Gathered& g : outputs) write_npy(g.path, g.data.data(), g.shape);
}

}  // namespace

void run_sdpa_ring(const SdpaRingJob& job) {
  const World& w = world();
  const dist::Ring ring{MPI_COMM_WORLD, to_dist(job.sharding)};
  SdpaInputs whole;  // rank 0's inputs; empty elsewhere
  run_on_leader([&] { whole = load_ring_inputs(job, w.size); });
  const RingSizes s = broadcast_sizes(whole);
  const std::vector<int64_t> key_lengths =
      job.files.key_lengths.empty() ? std::vector<int64_t>{}
                                    : broadcast_vector(whole.key_lengths, s.batch, MPI_INT64_T);
  const std::vector<float> alibi_slopes =
      job.files.alibi.empty() ? std::vector<float>{}
                              : broadcast_vector(whole.alibi_slopes, s.q_heads, MPI_FLOAT);
  const dist::ShardLayout layout{s.len, w.size, ring.sharding};
  Shards x = scatter_inputs(job, whole, s, layout);
  whole = SdpaInputs{};  // rank 0 keeps only its shards while the ring runs
  const int64_t n = layout.shard_len();
  const AttentionParams p = shard_params(job, x, s, n, key_lengths, alibi_slopes);
  dist::ring_attention_forward(p, ring);
  if (!job.files.dout.empty()) dist::ring_attention_backward(p, shard_grads(x, s, n), ring);
  gather_and_write(job, x, s, layout);
}

#else

void run_sdpa_ring(const SdpaRingJob&) {
  detail::throw_error("attn sdpa: this attn was built without MPI (attn_dist)");
}

#endif

}  // namespace attn::cli
