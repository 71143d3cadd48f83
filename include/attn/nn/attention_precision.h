// The precision of the attention of nn::MultiHeadAttention, chosen for the whole process.
//
//   kFp32  fp32 q, k, v and dO: the default, bitwise the same as before the setting existed.
//   kBf16  q, k and v (after the projections and RoPE, as the kernel receives them) are rounded
//          to bfloat16 (round to nearest even) and the kernels read them as bf16
//          (AttentionParams::input_type); in the backward dO is rounded too (AttentionGrads::
//          dout16). Scores, softmax, lse and every accumulation stay fp32, the output is fp32
//          (it feeds the output projection) and dq, dk, dv are fp32.
//
// Unlike the bf16 matrix products (attn/nn/matmul_precision.h), kBf16 takes effect on every CPU:
// the kernels widen bf16 exactly to fp32, so it needs no bf16 instructions. A layer reads the
// setting at each forward pass, and its backward uses what that forward used.
#pragma once

#include <string>

namespace attn::nn {

enum class AttentionPrecision { kFp32, kBf16 };

// Sets the precision of every MultiHeadAttention's attention from the next forward pass on.
void set_attention_precision(AttentionPrecision precision);

// The precision in effect (the one set: kBf16 runs everywhere).
AttentionPrecision attention_precision();

// "fp32" or "bf16".
std::string to_string(AttentionPrecision precision);

}  // namespace attn::nn
