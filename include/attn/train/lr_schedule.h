// Learning-rate schedule: linear warm-up, then cosine decay to a minimum.
//
//   step < warmup:          lr = max_lr · (step + 1) / warmup
//   warmup ≤ step < total:  lr = min_lr + ½·(max_lr − min_lr)·(1 + cos(π·(step − warmup)/(total −
//   warmup))) step ≥ total:           lr = min_lr
//
// Steps count from 0; the peak max_lr is reached at step warmup − 1 and held at step warmup.
#pragma once

#include <cstdint>

namespace attn::train {

struct CosineSchedule {
  float max_lr = 0.0f;
  float min_lr = 0.0f;
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;  // > warmup_steps

  float at(int64_t step) const;
};

}  // namespace attn::train
