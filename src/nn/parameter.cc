#include "attn/nn/parameter.h"

#include <cstring>

#include "attn/core/error.h"

namespace attn::nn {

Parameter make_parameter(std::string name, Tensor& value, Tensor& grad, bool decay) {
  ATTN_CHECK(value.shape() == grad.shape(), "parameter ", name,
             ": value and gradient shapes differ");
  Parameter p;
  p.name = std::move(name);
  p.value = value.data();
  p.grad = grad.data();
  p.shape = value.shape();
  p.size = value.size();
  p.decay = decay;
  return p;
}

void append_parameters(std::vector<Parameter>& to, const std::string& prefix,
                       const std::vector<Parameter>& from) {
  for (const Parameter& p : from) {
    to.push_back(p);
    to.back().name = prefix + "." + p.name;
  }
}

void zero_grad(const std::vector<Parameter>& params) {
  for (const Parameter& p : params) std::memset(p.grad, 0, p.size * sizeof(float));
}

size_t count_elements(const std::vector<Parameter>& params) {
  size_t n = 0;
  for (const Parameter& p : params) n += p.size;
  return n;
}

}  // namespace attn::nn
