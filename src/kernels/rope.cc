// The RoPE rotation (attn/kernels/rope.h). Angles in double, the rotation in float.
#include "attn/kernels/rope.h"

#include <cmath>
#include <vector>

namespace attn {

void rope_rotate(float* x, const Strides4& s, int64_t batch, int64_t heads, int64_t len,
                 int64_t head_dim, int64_t start, double base, RopeDirection direction) {
  const int64_t half = head_dim / 2;
  const float sign = direction == RopeDirection::kForward ? 1.0f : -1.0f;
  // cos θ and ±sin θ for every (row, pair).
  std::vector<float> cos_t(len * half), sin_t(len * half);
  for (int64_t l = 0; l < len; ++l) {
    for (int64_t i = 0; i < half; ++i) {
      const double theta =
          static_cast<double>(start + l) * std::pow(base, -2.0 * static_cast<double>(i) / head_dim);
      cos_t[l * half + i] = static_cast<float>(std::cos(theta));
      sin_t[l * half + i] = sign * static_cast<float>(std::sin(theta));
    }
  }
#pragma omp parallel for collapse(2) schedule(static) if (batch * heads * len * half > (1 << 15))
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t l = 0; l < len; ++l) {
        float* v = x + s.offset(b, h, l, 0);
        for (int64_t i = 0; i < half; ++i) {
          const float c = cos_t[l * half + i], sn = sin_t[l * half + i];
          const float x0 = v[2 * i * s.col], x1 = v[(2 * i + 1) * s.col];
          v[2 * i * s.col] = x0 * c - x1 * sn;  // x'[2i]   = x[2i]·cos θ − x[2i+1]·sin θ
          v[(2 * i + 1) * s.col] = x0 * sn + x1 * c;  // x'[2i+1] = x[2i]·sin θ + x[2i+1]·cos θ
        }
      }
    }
  }
}

}  // namespace attn
