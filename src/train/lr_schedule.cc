#include "attn/train/lr_schedule.h"

#include <cmath>
#include <numbers>

#include "attn/core/error.h"

namespace attn::train {

float CosineSchedule::at(int64_t step) const {
  ATTN_CHECK(warmup_steps >= 0 && total_steps > warmup_steps, "CosineSchedule: need 0 ≤ warmup (",
             warmup_steps, ") < total (", total_steps, ")");
  ATTN_CHECK(step >= 0, "CosineSchedule: negative step ", step);
  if (step < warmup_steps) {
    return max_lr * static_cast<float>(step + 1) / static_cast<float>(warmup_steps);
  }
  if (step >= total_steps) return min_lr;
  const double progress =
      static_cast<double>(step - warmup_steps) / static_cast<double>(total_steps - warmup_steps);
  const double cosine = 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  return static_cast<float>(min_lr + (max_lr - min_lr) * cosine);
}

}  // namespace attn::train
