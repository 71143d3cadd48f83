#include "attn/nn/tensor_ops.h"

#include <cstring>

#include "attn/core/error.h"

namespace attn::nn {

Tensor clone(const Tensor& t) {
  Tensor copy(t.shape(), Tensor::Uninitialized{});
  if (t.size() > 0) std::memcpy(copy.data(), t.data(), t.size() * sizeof(float));
  return copy;
}

Tensor tensor_from(const std::vector<int64_t>& shape, const std::vector<float>& values) {
  Tensor t(shape);
  ATTN_CHECK(t.size() == values.size(), "tensor_from: shape holds ", t.size(), " elements but ",
             values.size(), " values were given");
  if (!values.empty()) std::memcpy(t.data(), values.data(), values.size() * sizeof(float));
  return t;
}

Tensor reshaped(const Tensor& t, const std::vector<int64_t>& shape) {
  return tensor_from(shape, to_vector(t));
}

std::vector<float> to_vector(const Tensor& t) { return {t.data(), t.data() + t.size()}; }

void fill_zero(Tensor& t) {
  if (t.size() > 0) std::memset(t.data(), 0, t.size() * sizeof(float));
}

void add_into(Tensor& to, const Tensor& from) {
  ATTN_CHECK(to.size() == from.size(), "add_into: ", to.size(), " vs ", from.size(), " elements");
  float* a = to.data();
  const float* b = from.data();
  const int64_t n = static_cast<int64_t>(to.size());
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) a[i] += b[i];
}

int64_t rows_of(const Tensor& t, int64_t last, const char* what) {
  ATTN_CHECK(!t.shape().empty() && t.shape().back() == last, what,
             ": expected a last dimension of ", last, ", got ",
             t.shape().empty() ? 0 : t.shape().back());
  return static_cast<int64_t>(t.size()) / last;
}

std::vector<int64_t> with_last_dim(std::vector<int64_t> shape, int64_t last) {
  shape.back() = last;
  return shape;
}

void check_same_shape(const Tensor& a, const Tensor& b, const char* what) {
  ATTN_CHECK(a.shape() == b.shape(), what, ": shapes differ (", a.size(), " vs ", b.size(),
             " elements)");
}

}  // namespace attn::nn
