// Conversion of cached rows between fp32 and the storage dtypes of a KvCache (scalar code; the
// decode kernel has its own in-register dequantisation of the same formats).
#pragma once

#include <cstddef>
#include <cstdint>

#include "attn/kernels/kv_cache_view.h"

namespace attn::infer {

// IEEE half bits of x, rounded to nearest even; |x| ≥ 65504 saturates to ±65504.
uint16_t f16_bits(float x);
float f16_value(uint16_t bits);

// bfloat16 bits of x, rounded to nearest even; values beyond the largest bf16 saturate.
uint16_t bf16_bits(float x);
float bf16_value(uint16_t bits);

// Stores x [dim] as one row of `dtype`: codes [padded] (dim ≤ padded; the padding is left as it
// is, zero in a fresh block) and, for q8, scales [padded / 32]. q8 groups of 32 values take the
// scale max|x| / 127 and the codes round(x / scale) in [−127, 127].
void encode_row(KvDtype dtype, const float* x, int64_t dim, std::byte* codes, float* scales);

// The fp32 values x [dim] of a row stored by encode_row, exactly as the decode kernel sees them.
void decode_row(KvDtype dtype, const std::byte* codes, const float* scales, int64_t dim, float* x);

}  // namespace attn::infer
