#include "attn/nn/norm.h"

namespace attn::nn {

namespace {
std::variant<LayerNorm, RMSNorm> make_norm(NormKind kind, int64_t dim, float eps) {
  if (kind == NormKind::kLayerNorm) return LayerNorm(dim, eps);
  return RMSNorm(dim, eps);
}
}  // namespace

Norm::Norm(NormKind kind, int64_t dim, float eps) : norm_(make_norm(kind, dim, eps)) {}

Tensor Norm::forward(const Tensor& x) {
  return std::visit([&](auto& n) { return n.forward(x); }, norm_);
}

Tensor Norm::backward(const Tensor& dy) {
  return std::visit([&](auto& n) { return n.backward(dy); }, norm_);
}

std::vector<Parameter> Norm::parameters() {
  return std::visit([](auto& n) { return n.parameters(); }, norm_);
}

NormKind Norm::kind() const {
  return std::holds_alternative<LayerNorm>(norm_) ? NormKind::kLayerNorm : NormKind::kRMSNorm;
}

}  // namespace attn::nn
