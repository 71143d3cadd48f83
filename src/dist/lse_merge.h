// Merging partial attention results by their log-sum-exp.
//
// A partial result over a subset S of the keys is o_S = Σ_{j∈S} e^{s_j − ℓ_S} v_j with
// ℓ_S = log Σ_{j∈S} e^{s_j}. Two disjoint subsets merge exactly:
//   ℓ = log(e^{ℓ_1} + e^{ℓ_2}),   o = e^{ℓ_1 − ℓ} o_1 + e^{ℓ_2 − ℓ} o_2
// (with dropout too: the kept weights are scaled by the same factors). A row with ℓ = −inf has
// seen no key yet: merging into it copies the partial; merging a −inf partial changes nothing.
#pragma once

#include <cstdint>

#include "attn/core/tensor.h"
#include "attn/dist/sharding.h"

namespace attn::dist {

// rows [row0, row0 + rows) of out (view [B, H, *, Dv], shape.dim = Dv) and of lse (contiguous
// [B, H, lse_len], double) ← the merge of themselves with part_out (contiguous
// [B, H, rows, Dv]) and part_lse (contiguous [B, H, rows]). Elementwise per row: the result
// does not depend on the thread count.
void merge_partial(const RowShape& shape, int64_t rows, const float* part_out,
                   const float* part_lse, float* out, const Strides4& out_stride, double* lse,
                   int64_t lse_len, int64_t row0);

}  // namespace attn::dist
