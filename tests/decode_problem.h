// A random decode problem for the tests: a KvCache filled with random tokens, new queries, the
// decode outputs, and the same problem gathered into AttentionParams for the references.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attn/core/attention_params.h"
#include "attn/infer/kv_cache.h"
#include "attn/kernels/decode.h"

namespace attn::testing {

struct DecodeSpec {
  int64_t q_heads = 4, kv_heads = 2, head_dim = 32, v_head_dim = 32, q_len = 1;
  std::vector<int64_t> lengths = {37, 600};  // tokens appended to each sequence (B = size)
  KvDtype dtype = KvDtype::kF32;
  KvLayout layout = KvLayout::kContiguous;
  int64_t block_tokens = 16;  // paged
  bool rope = false;
  int64_t sinks = 0, window = 0;
  float softcap = 0.0f;
  std::optional<float> scale;
  float magnitude = 1.0f;  // q and k uniform in [−magnitude, magnitude); v in [−1, 1)
  bool uneven = false;     // k and v times 0.05 … 4, varying by token and 8-value stretch
  uint64_t seed = 1;
  // Values written over the drawn queries (the cache refuses non-finite keys and values): the
  // sequence, the query's index, the column (in head 0), the value.
  struct Poison {
    int64_t seq, token, col;
    float value;
  };
  std::vector<Poison> poison;

  std::string describe() const;
};

// Positions of the tokens a cache keeps after `length` appends, oldest first: every token, or
// with a window the first `sinks` and the last `window` of them.
std::vector<int64_t> kept_positions(int64_t length, int64_t sinks, int64_t window);

class DecodeProblem {
 public:
  explicit DecodeProblem(const DecodeSpec& spec);

  KvCache& cache() { return *cache_; }
  const DecodeSpec& spec() const { return spec_; }
  // Params viewing this problem's queries and its own out/lse buffers.
  DecodeParams params();
  // Runs decode_attention; returns out [B, n_q, Hq, Dv].
  const std::vector<float>& run();
  const std::vector<float>& out() const { return out_; }
  const std::vector<float>& lse() const { return lse_; }  // [B, n_q, Hq]

  // The kept tokens, gathered from the raw inputs by kept_positions (RoPE applied with
  // apply_rope), as a causal bottom-right problem with key lengths: q [B, Hq, n_q, D] (a view of
  // the queries), k [B, Hkv, Lk, D], v [B, Hkv, Lk, Dv]. Valid while this problem lives.
  AttentionParams reference_params();
  const std::vector<float>& raw_k(int64_t b) const { return raw_k_[b]; }  // [length, Hkv, D]
  const std::vector<float>& raw_v(int64_t b) const { return raw_v_[b]; }  // [length, Hkv, Dv]
  const std::vector<float>& queries() const { return q_; }                // [B, n_q, Hq, D]
  // out or lse reordered to [B, Hq, n_q, ·], the order of the reference's results.
  std::vector<float> to_bhld(const std::vector<float>& x, int64_t dim) const;

 private:
  DecodeSpec spec_;
  std::unique_ptr<KvCache> cache_;
  std::vector<std::vector<float>> raw_k_, raw_v_;  // per sequence: [length, Hkv, D or Dv]
  std::vector<float> q_, out_, lse_;               // [B, n_q, Hq, ·]
  std::vector<float> ref_k_, ref_v_, ref_out_;
  std::vector<int64_t> key_lengths_;
};

// Max |decode − reference| ≤ 2 × max |naive fp32 − reference| (+ a tiny floor), and the lse
// within 1e-5; "" on success, else an explanation. Runs the decode.
std::string check_decode_against_reference(DecodeProblem& problem);

}  // namespace attn::testing
