// Data-parallel training over MPI: the ranks of a communicator are the workers of a
// train::GradientReducer.
//
//   attn::dist::MpiGradientReducer workers(MPI_COMM_WORLD);
//   attn::train::TrainingLoop loop(task, options, &workers);  // each rank: its share of a batch
//
// The gradients are summed in part order, bitwise as one process adding the parts one after the
// other: the flat gradient is cut into W segments, one per rank; an all-to-all hands rank w
// every part's copy of segment w, rank w adds them in part order, and an all-gather returns the
// summed segments to every rank. Each rank sends and receives about (k + 1)·n floats per step
// for k parts of n floats each, as a ring all-reduce would.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <span>
#include <vector>

#include "attn/train/gradient_reducer.h"

namespace attn::dist {

class MpiGradientReducer final : public train::GradientReducer {
 public:
  // `comm` must outlive the reducer; every rank of it trains.
  explicit MpiGradientReducer(MPI_Comm comm);

  int workers() const override { return size_; }
  int rank() const override { return rank_; }
  void sum_parts(std::span<const float> parts, int64_t k, std::span<float> sum) override;
  void all_gather(std::span<const double> mine, std::span<double> all) override;
  void broadcast(std::span<double> values) override;

 private:
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
  std::vector<float> send_, received_, segment_;  // reused from step to step
};

}  // namespace attn::dist
