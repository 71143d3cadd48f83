// GradientReducer — what the workers of a data-parallel run share, as TrainingLoop sees it.
//
// Each worker computes the gradients of its share of a step's batch; the reducer sums them across
// the workers in one fixed order and hands every worker the same sum, so that every worker's
// optimizer takes the same step. The loop also uses it to agree on the step's losses, on the
// evaluation (the leader's) and on when to stop. The interface knows nothing of how workers
// talk; attn/dist/data_parallel.h implements it over MPI.
#pragma once

#include <cstdint>
#include <span>

namespace attn::train {

class GradientReducer {
 public:
  virtual ~GradientReducer() = default;

  virtual int workers() const = 0;  // W ≥ 1
  virtual int rank() const = 0;     // this worker, in [0, W)
  // The worker that evaluates, prints and writes checkpoints.
  bool leads() const { return rank() == 0; }

  // parts: [k, n], the gradients of this worker's k parts of the batch, which are parts
  // rank·k … rank·k + k − 1 of the W·k parts; sum: [n], set on every worker to
  //   sum[i] = (…((g_0[i] + g_1[i]) + g_2[i]) + …) + g_{W·k−1}[i]
  // in part order: bitwise the sum a single process forms adding the parts one after the other.
  // Every worker calls it with the same k and n.
  virtual void sum_parts(std::span<const float> parts, int64_t k, std::span<float> sum) = 0;
  // mine: [m] of this worker → all: [W·m], the workers' values in rank order, on every worker.
  virtual void all_gather(std::span<const double> mine, std::span<double> all) = 0;
  // values: [m], overwritten on every worker by the leader's.
  virtual void broadcast(std::span<double> values) = 0;
};

// The one worker of a run without a reducer.
class SingleWorker final : public GradientReducer {
 public:
  int workers() const override { return 1; }
  int rank() const override { return 0; }
  void sum_parts(std::span<const float> parts, int64_t k, std::span<float> sum) override;
  void all_gather(std::span<const double> mine, std::span<double> all) override;
  void broadcast(std::span<double>) override {}
};

// parts: [k, n] → sum: [n], the parts added one after the other in order (k ≥ 1).
void sum_in_order(std::span<const float> parts, int64_t k, std::span<float> sum);

}  // namespace attn::train
