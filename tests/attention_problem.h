// A random attention problem for the tests: owns Q, K, V, the masks and the outputs, and hands
// out the AttentionParams that view them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "attn/core/attention_params.h"
#include "attn/ref/attention_reference.h"

namespace attn::testing {

enum class MaskKind { kNone, kTwoD, kFull };  // none, [Lq, Lk] broadcast, [B, Hq, Lq, Lk]

struct ProblemSpec {
  int64_t batch = 1, q_heads = 2, kv_heads = 2, q_len = 16, kv_len = 16, head_dim = 8,
          v_head_dim = 8;
  bool blhd = false;  // [B, L, H, D] layouts instead of [B, H, L, D]
  std::optional<float> scale;
  float softcap = 0.0f;
  bool causal = false;
  CausalAlign align = CausalAlign::kBottomRight;
  int64_t window_left = -1, window_right = -1;
  bool alibi = false;
  bool key_lengths = false;
  MaskKind bool_mask = MaskKind::kNone;
  MaskKind additive_mask = MaskKind::kNone;
  float dropout_p = 0.0f;  // attention dropout and its mask's seed
  uint64_t dropout_seed = 0;
  int64_t query_start = 0, key_start = 0;  // a block of a longer sequence (AttentionParams)
  float magnitude = 1.0f;                  // inputs are uniform in [−magnitude, magnitude)
  uint64_t seed = 1;
  // Packed sequences (AttentionParams' cu_seqlens): batch 1, q_len and kv_len the totals.
  std::vector<int32_t> cu_seqlens_q, cu_seqlens_k;

  std::string describe() const;
};

class Problem {
 public:
  explicit Problem(const ProblemSpec& spec);

  // Params viewing this problem's inputs and its own out/lse buffers.
  AttentionParams params();
  // out gathered into [B, Hq, Lq, Dv] order (whatever the layout).
  std::vector<float> out_bhld() const;
  const std::vector<float>& lse() const { return lse_; }
  const ProblemSpec& spec() const { return spec_; }

 private:
  ProblemSpec spec_;
  std::vector<float> q_, k_, v_, out_, lse_, slopes_, additive_;
  std::vector<int64_t> key_lengths_;
  std::vector<uint8_t> bool_mask_;
};

// Each option alone (0 … kOptionCases − 2) and all of them at once (the last), on a shape with
// partial tiles on both axes: the cases both kernels are held to one by one.
constexpr int kOptionCases = 19;
ProblemSpec option_case(int which);

// Cumulative offsets {0, n0, n0 + n1, …} of packed sequences of these lengths.
std::vector<int32_t> offsets_of(const std::vector<int32_t>& lengths);

// Packed sequences (cu_seqlens) with query and key lengths that differ, an empty one, one longer
// than a tile: each option alone (0 … kPackedCases − 2) and most of them at once (the last).
constexpr int kPackedCases = 12;
ProblemSpec packed_case(int which);

// A sweep of problems: each head dim and length of the list, options drawn at random.
// Lq is cut until Lq·Lk·(D + Dv) ≤ budget (0: 2e6 when small, else 4e7), which bounds the cost
// of the double reference.
std::vector<ProblemSpec> random_sweep(uint64_t seed, bool small, int64_t budget = 0);

// Strides of a [B, heads, len, dim] tensor in the spec's layout (bhld or blhd).
Strides4 layout_strides(const ProblemSpec& s, int64_t heads, int64_t len, int64_t dim);

// x, viewed with strides st as [B, H, L, D], gathered into contiguous [B, H, L, D] order.
std::vector<float> gather_bhld(const float* x, const Strides4& st, int64_t batch, int64_t heads,
                               int64_t len, int64_t dim);

// Max |flash − reference| must be ≤ 2 × max |naive fp32 − reference| (+ a tiny floor). Returns
// an explanation on failure, "" on success.
std::string check_against_reference(Problem& problem);

}  // namespace attn::testing
