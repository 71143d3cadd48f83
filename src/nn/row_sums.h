// Deterministic sums over rows, for the parameter gradients of the layers (bias, gains).
#pragma once

#include <algorithm>
#include <cstdint>

namespace attn::nn::detail {

// acc[c] += Σ_{n=0}^{rows−1} term(n, c) for c in [0, channels). The threads split the channels
// in blocks of 64, so each acc[c] has one owner that sums the rows in order: the result is the
// same for any number of threads.
template <typename Term>
void accumulate_over_rows(float* acc, int64_t rows, int64_t channels, const Term& term) {
  constexpr int64_t kBlock = 64;
  const int64_t blocks = (channels + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (rows * channels > (1 << 15))
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t c0 = blk * kBlock;
    const int64_t c1 = std::min(c0 + kBlock, channels);
    float sum[kBlock] = {};
    for (int64_t n = 0; n < rows; ++n) {
      for (int64_t c = c0; c < c1; ++c) sum[c - c0] += term(n, c);
    }
    for (int64_t c = c0; c < c1; ++c) acc[c] += sum[c - c0];
  }
}

}  // namespace attn::nn::detail
