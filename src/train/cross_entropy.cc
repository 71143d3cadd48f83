#include "attn/train/cross_entropy.h"

#include <algorithm>
#include <cmath>

#include "attn/core/error.h"
#include "attn/nn/tensor_ops.h"

namespace attn::train {

CrossEntropyLoss::CrossEntropyLoss(int32_t ignore_index) : ignore_index_(ignore_index) {}

namespace {
// log Σ_v exp(row[v]), with the row's maximum subtracted first.
float log_sum_exp(const float* row, int64_t vocab) {
  const float max = *std::max_element(row, row + vocab);
  float sum = 0.0f;
  for (int64_t v = 0; v < vocab; ++v) sum += std::exp(row[v] - max);
  return max + std::log(sum);
}
}  // namespace

float CrossEntropyLoss::forward(const Tensor& logits, std::span<const int32_t> targets) {
  ATTN_CHECK(!logits.shape().empty(), "CrossEntropyLoss: logits need a vocabulary dimension");
  vocab_ = logits.shape().back();
  rows_ = nn::rows_of(logits, vocab_, "CrossEntropyLoss logits");
  ATTN_CHECK(static_cast<int64_t>(targets.size()) == rows_, "CrossEntropyLoss: ", targets.size(),
             " targets for ", rows_, " rows of logits");
  for (int32_t t : targets) {
    ATTN_CHECK(t == ignore_index_ || (t >= 0 && t < vocab_), "CrossEntropyLoss: target ", t,
               " outside [0, ", vocab_, ") and not the ignore index ", ignore_index_);
  }
  targets_.assign(targets.begin(), targets.end());
  lse_.assign(rows_, 0.0f);
  std::vector<double> row_loss(rows_, 0.0);
#pragma omp parallel for schedule(static) if (rows_ * vocab_ > (1 << 15))
  for (int64_t n = 0; n < rows_; ++n) {
    if (targets_[n] == ignore_index_) continue;
    const float* row = logits.data() + n * vocab_;
    lse_[n] = log_sum_exp(row, vocab_);
    row_loss[n] = static_cast<double>(lse_[n]) - row[targets_[n]];  // lse_n − logits[n, t_n]
  }
  counted_ = std::count_if(targets_.begin(), targets_.end(),
                           [&](int32_t t) { return t != ignore_index_; });
  double sum = 0.0;  // in row order: the same for any thread count
  for (double l : row_loss) sum += l;
  return counted_ > 0 ? static_cast<float>(sum / counted_) : 0.0f;  // mean over counted rows
}

void CrossEntropyLoss::softmax_grad(const float* logits, float* dlogits, float dloss) const {
  const float scale = counted_ > 0 ? dloss / static_cast<float>(counted_) : 0.0f;
#pragma omp parallel for schedule(static) if (rows_ * vocab_ > (1 << 15))
  for (int64_t n = 0; n < rows_; ++n) {
    const float* row = logits + n * vocab_;
    float* drow = dlogits + n * vocab_;
    if (targets_[n] == ignore_index_) {
      std::fill(drow, drow + vocab_, 0.0f);
      continue;
    }
    // loss_n = lse_n − logits[n, t]   →   dlogits[n, v] = (softmax_n[v] − [v = t]) · dloss / K
    for (int64_t v = 0; v < vocab_; ++v) drow[v] = std::exp(row[v] - lse_[n]) * scale;
    drow[targets_[n]] -= scale;
  }
}

Tensor CrossEntropyLoss::backward(const Tensor& logits, float dloss) const {
  ATTN_CHECK(static_cast<int64_t>(logits.size()) == rows_ * vocab_,
             "CrossEntropyLoss backward: logits do not match the last forward");
  Tensor dlogits(logits.shape());
  softmax_grad(logits.data(), dlogits.data(), dloss);
  return dlogits;
}

void CrossEntropyLoss::backward_in_place(Tensor& logits, float dloss) const {
  ATTN_CHECK(static_cast<int64_t>(logits.size()) == rows_ * vocab_,
             "CrossEntropyLoss backward: logits do not match the last forward");
  softmax_grad(logits.data(), logits.data(), dloss);  // each element is read before it is written
}

}  // namespace attn::train
