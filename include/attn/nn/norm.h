// Norm — LayerNorm or RMSNorm, chosen when the model is built (TransformerBlock takes either).
#pragma once

#include <cstdint>
#include <variant>
#include <vector>

#include "attn/core/tensor.h"
#include "attn/nn/layer_norm.h"
#include "attn/nn/parameter.h"
#include "attn/nn/rms_norm.h"

namespace attn::nn {

enum class NormKind { kLayerNorm, kRMSNorm };

class Norm {
 public:
  Norm(NormKind kind, int64_t dim, float eps = 1e-5f);

  Tensor forward(const Tensor& x);    // x [..., C] → [..., C]
  Tensor backward(const Tensor& dy);  // dy [..., C] → dx [..., C]
  std::vector<Parameter> parameters();
  NormKind kind() const;

 private:
  std::variant<LayerNorm, RMSNorm> norm_;
};

}  // namespace attn::nn
