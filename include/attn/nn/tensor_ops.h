// Small helpers on attn::Tensor shared by the layers: copies, shape checks, sums.
//
// Activations are row-major; a layer that works on the last dimension reads any tensor
// [..., C] as a matrix [rows, C] with rows the product of the other dimensions.
#pragma once

#include <cstdint>
#include <vector>

#include "attn/core/tensor.h"

namespace attn::nn {

// A copy of t (same shape, same values).
Tensor clone(const Tensor& t);

// A tensor of the given shape holding a copy of `values` (which must have that many elements).
Tensor tensor_from(const std::vector<int64_t>& shape, const std::vector<float>& values);

// A copy of t with another shape of the same number of elements.
Tensor reshaped(const Tensor& t, const std::vector<int64_t>& shape);

// The elements of t, in order.
std::vector<float> to_vector(const Tensor& t);

// Sets every element to zero.
void fill_zero(Tensor& t);

// to += from, element by element (same number of elements).
void add_into(Tensor& to, const Tensor& from);

// Rows of t read as [rows, last]; throws attn::Error naming `what` unless t has at least one
// dimension and its last one is `last`.
int64_t rows_of(const Tensor& t, int64_t last, const char* what);

// `shape` with its last dimension replaced by `last`.
std::vector<int64_t> with_last_dim(std::vector<int64_t> shape, int64_t last);

// Throws attn::Error naming `what` unless a and b have the same shape.
void check_same_shape(const Tensor& a, const Tensor& b, const char* what);

}  // namespace attn::nn
