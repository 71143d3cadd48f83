// AttentionRunner — who computes a MultiHeadAttention's attention: by default (no runner) the
// flash kernels on the layer's own rows; a runner may compute it otherwise, e.g. as ring
// attention over the shards of a sequence held by several processes (attn/dist/ring_runner.h),
// while the projections and every per-token layer stay as they are.
#pragma once

#include "attn/core/attention_params.h"
#include "attn/kernels/attention.h"

namespace attn::nn {

class AttentionRunner {
 public:
  virtual ~AttentionRunner() = default;
  // As flash_attention_forward(p): writes p.out and p.lse.
  virtual void forward(const AttentionParams& p) = 0;
  // As flash_attention_backward(p, g), for the p of the last forward.
  virtual void backward(const AttentionParams& p, const AttentionGrads& g) = 0;
};

}  // namespace attn::nn
