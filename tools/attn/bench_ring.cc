// `attn bench --case ring` (bench_ring.h). Compiled always; without attn_dist (MPI) measure_ring
// only throws.
#include "bench_ring.h"

#include <algorithm>

#include "attn/core/error.h"
#include "cli_kit.h"
#include "mpi_world.h"

#ifdef ATTN_WITH_DIST
#include <mpi.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "attn/core/peak_rss.h"
#include "attn/dist/ring_attention.h"
#include "attn/dist/sharding.h"
#endif

namespace attn::cli {

double RingMeasurement::wait_fraction() const {
  if (wait_fraction_per_rank.empty()) return 0.0;
  return *std::max_element(wait_fraction_per_rank.begin(), wait_fraction_per_rank.end());
}

#ifdef ATTN_WITH_DIST

namespace {

// The params of the whole problem (sizes and masks only), for its FLOPs.
AttentionParams whole_problem(const BenchShape& s) {
  AttentionParams p;
  p.batch = s.batch;
  p.q_heads = s.heads;
  p.kv_heads = s.kv_heads;
  p.q_len = p.kv_len = s.len;
  p.head_dim = s.dim;
  p.v_head_dim = s.dim_v;
  p.causal = s.causal;
  return p;
}

// One rank's shard of the benchmark: a forward problem of L/P rows, or a backward one (after an
// untimed ring forward for its out and lse).
class RingProblem {
 public:
  RingProblem(const BenchShape& whole, int64_t rows, bool backward, const dist::Ring& ring)
      : ring_(ring) {
    BenchShape shard = whole;
    shard.len = shard.kv_len = rows;
    if (!backward) {
      forward_ = std::make_unique<ForwardProblem>(shard);
      return;
    }
    backward_ = std::make_unique<BackwardProblem>(shard);
    dist::ring_attention_forward(backward_->forward.params, ring_);
  }

  // One timed call on this rank.
  dist::RingStats run() const {
    if (forward_) return dist::ring_attention_forward(forward_->params, ring_);
    return dist::ring_attention_backward(backward_->forward.params, backward_->grads, ring_);
  }

 private:
  dist::Ring ring_;
  std::unique_ptr<ForwardProblem> forward_;    // set for the forward
  std::unique_ptr<BackwardProblem> backward_;  // set for the backward
};

double max_over_ranks(double x) {
  MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return x;
}

// x of every rank, in rank order, on every rank.
std::vector<double> of_every_rank(double x) {
  std::vector<double> all(static_cast<size_t>(world().size));
  MPI_Allgather(&x, 1, MPI_DOUBLE, all.data(), 1, MPI_DOUBLE, MPI_COMM_WORLD);
  return all;
}

}  // namespace

RingMeasurement measure_ring(const BenchShape& shape, RingSharding sharding, bool backward,
                             int reps) {
  const World& w = world();
  const dist::Ring ring{MPI_COMM_WORLD, to_dist(sharding)};
  const dist::ShardLayout layout{shape.len, w.size, ring.sharding};
  try {
    dist::validate(layout);
  } catch (const Error& e) {
    throw UsageError(std::string("--len: ") + e.what());  // the same on every rank
  }
  reset_peak_rss();
  const RingProblem problem(shape, layout.shard_len(), backward, ring);
  RingMeasurement m;
  m.ranks = w.size;
  const double warm_up = max_over_ranks(problem.run().seconds);
  m.reps = reps > 0 ? reps : reps_in_budget(warm_up);  // the same on every rank
  std::vector<double> ms;
  double seconds = 0.0, waited = 0.0;
  for (int r = 0; r < m.reps; ++r) {
    MPI_Barrier(MPI_COMM_WORLD);
    const dist::RingStats stats = problem.run();
    ms.push_back(1e3 * max_over_ranks(stats.seconds));
    seconds += stats.seconds;
    waited += stats.wait_seconds;
  }
  m.ms = median(std::move(ms));
  const double flops = forward_flops(whole_problem(shape)) * (backward ? 2.5 : 1.0);
  m.gflops = flops / (m.ms * 1e-3) * 1e-9;
  m.wait_fraction_per_rank = of_every_rank(seconds > 0.0 ? waited / seconds : 0.0);
  m.peak_rss_mib_per_rank =
      of_every_rank(static_cast<double>(peak_rss_bytes()) / (1024.0 * 1024.0));
  return m;
}

#else

RingMeasurement measure_ring(const BenchShape&, RingSharding, bool, int) {
  detail::throw_error("--case ring: this attn was built without MPI (attn_dist)");
}

#endif

}  // namespace attn::cli
