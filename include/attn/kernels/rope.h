// RoPE — rotary position embedding (Su et al., RoFormer): the rotation itself, shared by the
// layer (nn::Rope, forward and backward) and the KV cache's RoPE on append (infer).
//
// Each head vector x [D] of the token at position p has its pairs (2i, 2i+1), i < D/2, rotated:
//   θ_i = p · base^(−2i/D)
//   x'[2i]   = x[2i]·cos θ_i − x[2i+1]·sin θ_i
//   x'[2i+1] = x[2i]·sin θ_i + x[2i+1]·cos θ_i
// The rotation is orthogonal: its inverse (the backward) rotates by −θ_i.
#pragma once

#include <cstdint>

#include "attn/core/tensor.h"

namespace attn {

enum class RopeDirection { kForward, kInverse };

// Rotates x in place, viewed as [B, H, L, D] with strides s (indexed [b, h, l, d], so both the
// [B, L, H, D] and [B, H, L, D] layouts work); row l is at position start + l. D = head_dim, even.
void rope_rotate(float* x, const Strides4& s, int64_t batch, int64_t heads, int64_t len,
                 int64_t head_dim, int64_t start, double base,
                 RopeDirection direction = RopeDirection::kForward);

}  // namespace attn
