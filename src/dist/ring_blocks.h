// The blocks of ring attention: which (query chunk, key chunk) pairs a rank computes at each ring
// step, and the flash kernel's params of one pair.
#pragma once

#include <cstdint>
#include <vector>

#include "attn/core/attention_params.h"
#include "attn/dist/ring_attention.h"
#include "attn/dist/sharding.h"

namespace attn::dist {

// The rank whose K/V block rank r holds at ring step t: r − t (mod P).
inline int block_source(int rank, int64_t step, int ranks) {
  return static_cast<int>(((rank - step) % ranks + ranks) % ranks);
}

// Checks the ring's view of p (see ring_attention_forward) and that every rank of comm passes
// the same sizes and options; throws attn::Error naming the first problem.
void validate_ring(const AttentionParams& p, const ShardLayout& layout, MPI_Comm comm);

// One flash call: query chunk q_chunk of this rank against key chunk k_chunk of the block of
// rank `source`.
class BlockCall {
 public:
  BlockCall(const AttentionParams& p, const ShardLayout& layout, int rank, int source,
            int64_t q_chunk, int64_t k_chunk);
  BlockCall(const BlockCall&) = delete;
  BlockCall& operator=(const BlockCall&) = delete;

  // Params of the pair: q at the query chunk's rows, k and v at the key chunk's rows of the block
  // (after point_kv), positions and dropout at global indices, key lengths cut to the chunk, out
  // and lse unset (the caller points them at its partial buffers).
  AttentionParams& params() { return params_; }
  // Whether any query of the pair sees any key (else the pair is skipped).
  bool visible() const;
  // Points k and v at the key chunk of the block in hand ([B, Hkv, L/P, *] views).
  void point_kv(const float* k, const Strides4& k_stride, const float* v, const Strides4& v_stride);

 private:
  AttentionParams params_;
  int64_t k_chunk_, chunk_;
  std::vector<int64_t> key_lengths_;
};

// The pairs rank computes at a step, in their fixed order (query chunk, then key chunk).
struct ChunkPair {
  int64_t q_chunk;
  int64_t k_chunk;
};
std::vector<ChunkPair> visible_pairs(const AttentionParams& p, const ShardLayout& layout, int rank,
                                     int64_t step);

// Ring steps needed: one past the last step at which any rank has a visible pair (P without
// masks; fewer when a window or the causal mask keeps every query away from distant blocks).
int64_t ring_steps(const AttentionParams& p, const ShardLayout& layout);

}  // namespace attn::dist
