// apply_rope (attn/infer/kv_cache.h): the RoPE rotation applied to one token.
#include "attn/kernels/rope.h"

#include <cmath>

#include "attn/core/error.h"
#include "attn/infer/kv_cache.h"

namespace attn {

void apply_rope(float* x, int64_t heads, int64_t dim, int64_t position, float base) {
  ATTN_CHECK(x != nullptr, "apply_rope: x is null");
  ATTN_CHECK(heads > 0 && dim > 0 && dim % 2 == 0,
             "apply_rope: needs heads > 0 and an even dim > 0, got heads=", heads, " dim=", dim);
  ATTN_CHECK(position >= 0, "apply_rope: position must be ≥ 0, got ", position);
  ATTN_CHECK(std::isfinite(base) && base > 0.0f, "apply_rope: base must be finite and > 0, got ",
             base);
  // One token: x viewed as [1, heads, 1, dim], rotated at `position`.
  rope_rotate(x, Strides4{0, dim, 0, 1}, 1, heads, 1, dim, position, base);
}

}  // namespace attn
