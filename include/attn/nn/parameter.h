// Parameter — one trainable tensor of a layer, as the optimiser and the checkpoints see it.
//
// Every layer owns its parameters and their gradients (attn::Tensor) and lists them with
// parameters(): a name, the value and gradient buffers, the shape, and whether weight decay
// applies. The pointers are to the tensors' heap buffers, so they stay valid when the layer is
// moved, and as long as the layer lives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "attn/core/tensor.h"

namespace attn::nn {

struct Parameter {
  std::string name;            // dotted path, e.g. "block0.attn.wq.weight"
  float* value = nullptr;      // [size] elements, row-major in `shape`
  float* grad = nullptr;       // [size]: backward() adds to it; zero_grad() clears it
  std::vector<int64_t> shape;  // shape of value and grad
  size_t size = 0;             // number of elements
  bool decay = true;           // false for biases, norm gains and other vectors
};

// A Parameter viewing `value` and `grad` (same shape).
Parameter make_parameter(std::string name, Tensor& value, Tensor& grad, bool decay);

// Appends `from` to `to`, each name prefixed with `prefix` + ".".
void append_parameters(std::vector<Parameter>& to, const std::string& prefix,
                       const std::vector<Parameter>& from);

// Sets every gradient to zero.
void zero_grad(const std::vector<Parameter>& params);

// Total number of elements.
size_t count_elements(const std::vector<Parameter>& params);

}  // namespace attn::nn
