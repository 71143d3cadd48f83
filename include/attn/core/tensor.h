// Tensor views and owning buffers.
//
// A view is a pointer, a shape and strides counted in elements (not bytes). Attention takes 4-D
// views indexed [batch, head, row, col]; the [B, L, H, D] layout of FlashAttention is the same
// view with different strides, so both layouts run through one code path with no copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

namespace attn {

// Strides, in elements, of a 4-D tensor indexed [batch, head, row, col]. A stride of 0
// broadcasts that dimension.
struct Strides4 {
  int64_t batch = 0;
  int64_t head = 0;
  int64_t row = 0;
  int64_t col = 0;

  int64_t offset(int64_t b, int64_t h, int64_t r, int64_t c) const {
    return b * batch + h * head + r * row + c * col;
  }
};

// Strides of a contiguous [B, H, L, D] tensor (the PyTorch layout).
inline Strides4 bhld_strides(int64_t heads, int64_t len, int64_t dim) {
  return {heads * len * dim, len * dim, dim, 1};
}

// Strides of a contiguous [B, L, H, D] tensor (the FlashAttention layout), indexed [b, h, l, d].
inline Strides4 blhd_strides(int64_t heads, int64_t len, int64_t dim) {
  return {len * heads * dim, dim, heads * dim, 1};
}

// A non-owning view of a 4-D tensor indexed [batch, head, row, col]: a pointer, the four sizes
// and strides in elements. T is float or const float; a view of float converts to one of const
// float.
template <typename T>
struct View4 {
  T* data = nullptr;
  int64_t batch = 0;  // B
  int64_t heads = 0;  // H
  int64_t len = 0;    // L, the rows
  int64_t dim = 0;    // D, the columns
  Strides4 stride;

  // A contiguous [B, H, L, D] tensor (the PyTorch layout).
  static View4 bhld(T* data, int64_t batch, int64_t heads, int64_t len, int64_t dim) {
    return {data, batch, heads, len, dim, bhld_strides(heads, len, dim)};
  }
  // A contiguous [B, L, H, D] tensor (the FlashAttention layout), indexed [b, h, l, d].
  static View4 blhd(T* data, int64_t batch, int64_t heads, int64_t len, int64_t dim) {
    return {data, batch, heads, len, dim, blhd_strides(heads, len, dim)};
  }

  operator View4<const T>() const { return {data, batch, heads, len, dim, stride}; }
};
using TensorView4 = View4<float>;
using ConstTensorView4 = View4<const float>;

// Deleter for 64-byte aligned allocations.
struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

// A 64-byte aligned array of n elements of T, zero-initialised unless `zero` is false.
template <typename T>
std::unique_ptr<T[], AlignedFree> aligned_array(size_t n, bool zero = true) {
  const size_t bytes = ((n * sizeof(T) + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, bytes == 0 ? 64 : bytes);
  if (p == nullptr) throw std::bad_alloc();
  if (zero) std::memset(p, 0, bytes == 0 ? 64 : bytes);
  return std::unique_ptr<T[], AlignedFree>(static_cast<T*>(p));
}

// An owning, 64-byte aligned, contiguous tensor of float with a shape of up to 4 dimensions.
class Tensor {
 public:
  // Tag of the constructor that leaves the elements unset, for outputs that are written whole
  // (saves a pass over memory).
  struct Uninitialized {};

  Tensor() = default;
  // A tensor of zeros.
  explicit Tensor(std::vector<int64_t> shape) : Tensor(std::move(shape), true) {}
  // A tensor whose elements hold whatever the allocator returned: write them all before reading.
  Tensor(std::vector<int64_t> shape, Uninitialized) : Tensor(std::move(shape), false) {}

  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  size_t size() const { return size_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t dim(size_t i) const { return shape_.at(i); }

  // Strides of this tensor read as [batch, head, row, col]; needs a 4-D shape.
  Strides4 strides4() const { return bhld_strides(shape_.at(1), shape_.at(2), shape_.at(3)); }
  // This tensor read as [batch, head, row, col]; needs a 4-D shape.
  TensorView4 view4() { return TensorView4::bhld(data(), dim(0), dim(1), dim(2), dim(3)); }
  ConstTensorView4 view4() const {
    return ConstTensorView4::bhld(data(), dim(0), dim(1), dim(2), dim(3));
  }

 private:
  Tensor(std::vector<int64_t> shape, bool zero) : shape_(std::move(shape)) {
    size_t n = 1;
    for (int64_t s : shape_) n *= static_cast<size_t>(s);
    size_ = n;
    data_ = aligned_array<float>(n, zero);
  }

  std::vector<int64_t> shape_;
  size_t size_ = 0;
  std::unique_ptr<float[], AlignedFree> data_;
};

}  // namespace attn
