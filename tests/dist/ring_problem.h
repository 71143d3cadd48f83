// A whole attention problem, the same on every rank, cut into this rank's shard for ring
// attention; and the checks of the ring's gathered results against the reference of the whole.
#pragma once

#include <string>
#include <vector>

#include "attention_problem.h"
#include "attn/dist/ring_attention.h"
#include "backward_problem.h"

namespace attn::testing {

int world_rank();
int world_size();

// This rank's shard of a BackwardProblem (inputs, dout and the output/gradient buffers) in the
// problem's layout, and the ring calls on it.
class RingShard {
 public:
  RingShard(BackwardProblem& whole, dist::Sharding sharding);

  AttentionParams params();
  AttentionGrads grads();
  dist::RingStats forward() { return dist::ring_attention_forward(params(), ring_); }
  dist::RingStats backward() { return dist::ring_attention_backward(params(), grads(), ring_); }

  // This rank's out, lse, dq, dk, dv as they are (for bitwise comparisons).
  std::vector<float> local_results() const;
  // The ranks' results gathered into the whole's [B, H, L, dim] order; on rank 0 only.
  std::vector<float> gather_out() const;
  std::vector<float> gather_lse() const;
  std::vector<float> gather_dq() const;
  std::vector<float> gather_dk() const;
  std::vector<float> gather_dv() const;

 private:
  std::vector<float> shard_of(const float* full, int64_t heads, int64_t dim) const;
  std::vector<float> gather(const std::vector<float>& local, int64_t heads, int64_t dim) const;

  BackwardProblem& whole_;
  dist::Ring ring_;
  dist::ShardLayout layout_;
  std::vector<float> q_, k_, v_, dout_, out_, lse_, dq_, dk_, dv_;
};

// Ring forward on the spec's problem against the double reference of the whole: the 2× rule on
// the output, the lse within 1e-5 relative. "" on success (and on ranks other than 0).
std::string check_ring_forward(const ProblemSpec& spec, dist::Sharding sharding);
// Ring forward and backward: each gradient within factor × the plain fp32 error + floor.
std::string check_ring_backward(const ProblemSpec& spec, dist::Sharding sharding,
                                double factor = 3.0);

}  // namespace attn::testing
