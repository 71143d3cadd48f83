// `attn bench --case ring`: ring attention over the ranks of the mpirun job (attn_dist), timed.
// FLOPs count the visible (query, key) pairs of the whole problem, 2·(D + Dv) each per query
// head (2.5× that for the backward), summed over every rank.
#pragma once

#include <vector>

#include "bench_cases.h"
#include "ring_sharding.h"

namespace attn::cli {

// What one ring case reports; every field is the same on every rank.
struct RingMeasurement {
  int ranks = 1;
  int reps = 0;                                // timed runs behind the median
  double ms = 0.0;                             // median over the runs of the slowest rank's time
  double gflops = 0.0;                         // the whole problem's FLOPs per second, all ranks
  std::vector<double> wait_fraction_per_rank;  // time blocked on messages / time of the calls
  std::vector<double> peak_rss_mib_per_rank;   // each rank's peak resident memory
  double wait_fraction() const;                // the worst rank's
};

// Times the ring forward (or, with `backward`, the ring backward after one untimed forward) on
// `shape` (Lq = Lk = shape.len, the whole sequence; each rank holds len/P rows of random
// inputs), `reps` timed runs (0: as many as fit in about 2.5 s, agreed by the ranks). Collective
// over the world; throws attn::Error when built without MPI or len cannot be cut by `sharding`.
RingMeasurement measure_ring(const BenchShape& shape, RingSharding sharding, bool backward,
                             int reps);

}  // namespace attn::cli
