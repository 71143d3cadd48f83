#include "attn/train/gradient_reducer.h"

#include <algorithm>

#include "attn/core/error.h"

namespace attn::train {

void sum_in_order(std::span<const float> parts, int64_t k, std::span<float> sum) {
  const size_t n = sum.size();
  ATTN_CHECK(k >= 1 && parts.size() == static_cast<size_t>(k) * n, "sum_in_order: ", parts.size(),
             " values are not ", k, " parts of ", n);
  std::copy(parts.begin(), parts.begin() + static_cast<ptrdiff_t>(n), sum.begin());
  for (int64_t j = 1; j < k; ++j) {
    const float* part = parts.data() + static_cast<size_t>(j) * n;
    for (size_t i = 0; i < n; ++i) sum[i] += part[i];
  }
}

void SingleWorker::sum_parts(std::span<const float> parts, int64_t k, std::span<float> sum) {
  sum_in_order(parts, k, sum);
}

void SingleWorker::all_gather(std::span<const double> mine, std::span<double> all) {
  ATTN_CHECK(all.size() == mine.size(), "all_gather: ", all.size(), " values for one worker's ",
             mine.size());
  std::copy(mine.begin(), mine.end(), all.begin());
}

}  // namespace attn::train
