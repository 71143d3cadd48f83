// RingAttentionRunner — a layer's attention as ring attention (attn/dist/ring_attention.h): the
// nn::AttentionRunner of sequence-parallel training, in which each rank holds a contiguous shard
// of every sequence and runs the per-token layers on it alone.
//
//   attn::dist::RingAttentionRunner ring({MPI_COMM_WORLD, attn::dist::Sharding::kContiguous});
//   model.forward(shard_tokens, B, L / P, true, step, {.start = rank * L / P, .attention = &ring});
#pragma once

#include "attn/dist/ring_attention.h"
#include "attn/nn/attention_runner.h"

namespace attn::dist {

class RingAttentionRunner final : public nn::AttentionRunner {
 public:
  explicit RingAttentionRunner(const Ring& ring) : ring_(ring) {}
  void forward(const AttentionParams& p) override { ring_attention_forward(p, ring_); }
  void backward(const AttentionParams& p, const AttentionGrads& g) override {
    ring_attention_backward(p, g, ring_);
  }

 private:
  Ring ring_;
};

}  // namespace attn::dist
