// fp32 → bfloat16 conversion of arrays, vectorised per SIMD target and split over the OpenMP
// threads when the array is large.
#pragma once

#include <cstdint>

namespace attn {

// out[i] = the 16-bit pattern of bf16(x[i]), rounded to nearest even, for i in [0, n); a NaN
// stays a quiet NaN, ±inf stays ±inf. The same for every SIMD target and thread count.
void to_bf16(const float* x, uint16_t* out, int64_t n);

}  // namespace attn
