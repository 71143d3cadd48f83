// Merging partial attention results by their log-sum-exp (lse_merge.h).
#include "dist/lse_merge.h"

#include <algorithm>
#include <cmath>

namespace attn::dist {

namespace {

// One row: o (stride `col`) and l ← merge with (o2, l2).
void merge_row(int64_t dim, const float* o2, double l2, float* o, int64_t col, double& l) {
  if (std::isinf(l2)) return;
  if (std::isinf(l)) {
    for (int64_t c = 0; c < dim; ++c) o[c * col] = o2[c];
    l = l2;
    return;
  }
  const double m = std::max(l, l2);
  const double a = std::exp(l - m), b = std::exp(l2 - m);
  const double wa = a / (a + b), wb = b / (a + b);
  for (int64_t c = 0; c < dim; ++c) {
    o[c * col] = static_cast<float>(wa * o[c * col] + wb * o2[c]);
  }
  l = m + std::log(a + b);
}

}  // namespace

void merge_partial(const RowShape& shape, int64_t rows, const float* part_out,
                   const float* part_lse, float* out, const Strides4& out_stride, double* lse,
                   int64_t lse_len, int64_t row0) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < shape.batch; ++b) {
    for (int64_t h = 0; h < shape.heads; ++h) {
      const int64_t bh = b * shape.heads + h;
      for (int64_t i = 0; i < rows; ++i) {
        merge_row(shape.dim, part_out + (bh * rows + i) * shape.dim, part_lse[bh * rows + i],
                  out + out_stride.offset(b, h, row0 + i, 0), out_stride.col,
                  lse[bh * lse_len + row0 + i]);
      }
    }
  }
}

}  // namespace attn::dist
