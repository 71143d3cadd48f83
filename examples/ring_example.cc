// ring_example: ring attention over the ranks of an MPI job with attn::dist, checked against the
// single-process flash kernel.
//
//   mpirun -np 2 ring_example
//
// Every rank builds the same random Q, K and V of the whole sequence [B, H, L, D], keeps the rows
// of its zigzag shard, and runs the ring forward; rank 0 gathers the output and compares it with
// the flash kernel on the whole sequence. It exits with 0 only when they agree within 1e-5.
#include <attn/core/attention_params.h>
#include <attn/core/tensor.h>
#include <attn/dist/abort_on_error.h>
#include <attn/dist/ring_attention.h>
#include <attn/dist/sharding.h>
#include <attn/kernels/attention.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <random>

namespace {

// Fills t with numbers drawn uniformly from [-1, 1); the same on every rank.
void fill_random(attn::Tensor& t, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::generate(t.data(), t.data() + t.size(), [&] { return uniform(rng); });
}

int run(int rank, int ranks) {
  constexpr int64_t B = 1, H = 4, L = 96, D = 32;
  const attn::dist::ShardLayout layout{L, ranks, attn::dist::Sharding::kZigzag};
  const int64_t n = layout.shard_len();  // rows of each rank
  attn::Tensor q({B, H, L, D}), k({B, H, L, D}), v({B, H, L, D});
  fill_random(q, 1);
  fill_random(k, 2);
  fill_random(v, 3);

  // ---- This rank's shard of Q, K and V, and its output rows.
  const attn::dist::RowShape shape{B, H, D};
  attn::Tensor qs({B, H, n, D}), ks({B, H, n, D}), vs({B, H, n, D}), out({B, H, n, D});
  attn::dist::take_shard(layout, rank, shape, q.data(), q.strides4(), qs.data(), qs.strides4());
  attn::dist::take_shard(layout, rank, shape, k.data(), k.strides4(), ks.data(), ks.strides4());
  attn::dist::take_shard(layout, rank, shape, v.data(), v.strides4(), vs.data(), vs.strides4());
  attn::AttentionParams p = attn::attention_params(qs.view4(), ks.view4(), vs.view4(), out.view4());
  p.causal = true;  // the diagonal at global positions
  attn::dist::ring_attention_forward(p, {MPI_COMM_WORLD, layout.sharding});

  // ---- Rank 0: the whole output, against the single-process kernel.
  attn::Tensor gathered({B, H, L, D});
  attn::dist::gather_shards(MPI_COMM_WORLD, layout, shape, out.data(), gathered.data());
  if (rank != 0) return 0;
  attn::Tensor expected({B, H, L, D});
  attn::AttentionParams whole =
      attn::attention_params(q.view4(), k.view4(), v.view4(), expected.view4());
  whole.causal = true;
  attn::flash_attention_forward(whole);
  double worst = 0.0;
  for (size_t i = 0; i < expected.size(); ++i) {
    worst = std::max(worst, std::abs(double{gathered.data()[i]} - expected.data()[i]));
  }
  std::cout << "ring attention over " << ranks << " ranks: largest difference from one process "
            << worst << "\n";
  return worst < 1e-5 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  attn::dist::MpiSession mpi(&argc, &argv);
  return attn::dist::run_or_abort(MPI_COMM_WORLD, [&] { return run(mpi.rank(), mpi.size()); });
}
