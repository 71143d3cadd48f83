#include "attn/train/grad_clip.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "attn/core/error.h"

namespace attn::train {

namespace {

// Σ g² of one gradient: chunks of 4096 elements summed in parallel, then in chunk order.
double sum_of_squares(const float* g, int64_t n) {
  constexpr int64_t kChunk = 4096;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(chunks, 0.0);
#pragma omp parallel for schedule(static) if (chunks > 4)
  for (int64_t c = 0; c < chunks; ++c) {
    double s = 0.0;
    for (int64_t i = c * kChunk; i < std::min(n, (c + 1) * kChunk); ++i) s += double(g[i]) * g[i];
    partial[c] = s;
  }
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

}  // namespace

double global_grad_norm(const std::vector<nn::Parameter>& params) {
  double total = 0.0;
  for (const nn::Parameter& p : params) total += sum_of_squares(p.grad, int64_t(p.size));
  return std::sqrt(total);
}

double clip_grad_norm(const std::vector<nn::Parameter>& params, double max_norm) {
  ATTN_CHECK(max_norm > 0, "clip_grad_norm: max_norm must be positive, got ", max_norm);
  const double norm = global_grad_norm(params);
  if (norm <= max_norm) return norm;
  const float scale = static_cast<float>(max_norm / norm);
  for (const nn::Parameter& p : params) {
    for (size_t i = 0; i < p.size; ++i) p.grad[i] *= scale;
  }
  return norm;
}

}  // namespace attn::train
