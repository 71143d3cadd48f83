// apply_rope (attn/kv_cache.h): angles and rotations in double, so that positions far into a long
// sequence keep their accuracy; the result is rounded to float once.
#include <cmath>
#include <vector>

#include "attn/error.h"
#include "attn/kv_cache.h"

namespace attn {

void apply_rope(float* x, int64_t heads, int64_t dim, int64_t position, float base) {
  ATTN_CHECK(x != nullptr, "apply_rope: x is null");
  ATTN_CHECK(heads > 0 && dim > 0 && dim % 2 == 0,
             "apply_rope: needs heads > 0 and an even dim > 0, got heads=", heads, " dim=", dim);
  ATTN_CHECK(position >= 0, "apply_rope: position must be ≥ 0, got ", position);
  ATTN_CHECK(std::isfinite(base) && base > 0.0f, "apply_rope: base must be finite and > 0, got ",
             base);
  std::vector<double> cosines(static_cast<size_t>(dim / 2)), sines(cosines.size());
  for (int64_t i = 0; i < dim / 2; ++i) {
    const double angle = static_cast<double>(position) *
                         std::pow(static_cast<double>(base), -2.0 * static_cast<double>(i) / dim);
    cosines[i] = std::cos(angle);
    sines[i] = std::sin(angle);
  }
  for (int64_t h = 0; h < heads; ++h) {
    float* row = x + h * dim;
    for (int64_t i = 0; i < dim / 2; ++i) {
      const double a = row[2 * i], b = row[2 * i + 1];
      row[2 * i] = static_cast<float>(a * cosines[i] - b * sines[i]);
      row[2 * i + 1] = static_cast<float>(a * sines[i] + b * cosines[i]);
    }
  }
}

}  // namespace attn
