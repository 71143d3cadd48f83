#include "nn/bf16_matmul.h"

#include <array>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>

#include "attn/core/error.h"
#include "attn/kernels/bf16_convert.h"

namespace attn::nn::detail {

namespace {

using dt = dnnl::memory::data_type;

// One CPU engine and stream for the process (oneDNN runs on the OpenMP threads).
struct Runtime {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
};

Runtime& runtime() {
  static Runtime r;
  return r;
}

dnnl::memory::desc matrix_desc(const Bf16Matrix& m) {
  return dnnl::memory::desc({m.rows, m.cols}, dt::bf16, {m.row_stride, m.col_stride});
}

// What a compiled product depends on: sizes, strides, bias, accumulation.
using ProductKey = std::array<int64_t, 9>;

ProductKey key_of(const Bf16Matrix& a, const Bf16Matrix& b, bool bias, bool accumulate) {
  return {a.rows,       a.cols,       a.row_stride, a.col_stride,      b.cols,
          b.row_stride, b.col_stride, bias ? 1 : 0, accumulate ? 1 : 0};
}

// The matmul primitive of a product; a training step has a dozen distinct shapes, so each is
// compiled once and kept for the life of the process.
dnnl::matmul& product(const Bf16Matrix& a, const Bf16Matrix& b, bool bias, bool accumulate) {
  static std::mutex mutex;
  static std::map<ProductKey, dnnl::matmul> products;
  const std::lock_guard<std::mutex> lock(mutex);
  const ProductKey key = key_of(a, b, bias, accumulate);
  auto it = products.find(key);
  if (it != products.end()) return it->second;
  const dnnl::memory::desc c_md({a.rows, b.cols}, dt::f32, dnnl::memory::format_tag::ab);
  const dnnl::memory::desc bias_md =
      bias ? dnnl::memory::desc({1, b.cols}, dt::f32, dnnl::memory::format_tag::ab)
           : dnnl::memory::desc();
  dnnl::primitive_attr attr;
  if (accumulate) {
    dnnl::post_ops ops;
    ops.append_sum(1.0f);  // c = a·b + c
    attr.set_post_ops(ops);
  }
  const dnnl::matmul::primitive_desc pd(
      dnnl::matmul::desc(matrix_desc(a), matrix_desc(b), bias_md, c_md), attr, runtime().engine);
  return products.emplace(key, dnnl::matmul(pd)).first->second;
}

}  // namespace

void Bf16Buffer::assign(const float* x, int64_t n) {
  if (n > capacity_) {
    data_ = aligned_array<uint16_t>(static_cast<size_t>(n), false);
    capacity_ = n;
  }
  size_ = n;
  to_bf16(x, data_.get(), n);
}

void bf16_matmul(const Bf16Matrix& a, const Bf16Matrix& b, const float* bias, float* c,
                 bool accumulate) {
  ATTN_CHECK(a.cols == b.rows, "bf16_matmul: inner sizes ", a.cols, " and ", b.rows, " differ");
  const int64_t m = a.rows, n = b.cols;
  if (m == 0 || n == 0) return;
  Runtime& rt = runtime();
  const dnnl::memory::desc c_md({m, n}, dt::f32, dnnl::memory::format_tag::ab);
  std::unordered_map<int, dnnl::memory> args = {
      {DNNL_ARG_SRC, dnnl::memory(matrix_desc(a), rt.engine, const_cast<uint16_t*>(a.data))},
      {DNNL_ARG_WEIGHTS, dnnl::memory(matrix_desc(b), rt.engine, const_cast<uint16_t*>(b.data))},
      {DNNL_ARG_DST, dnnl::memory(c_md, rt.engine, c)}};
  if (bias) {
    const dnnl::memory::desc bias_md({1, n}, dt::f32, dnnl::memory::format_tag::ab);
    args.insert({DNNL_ARG_BIAS, dnnl::memory(bias_md, rt.engine, const_cast<float*>(bias))});
  }
  product(a, b, bias != nullptr, accumulate).execute(rt.stream, args);
  rt.stream.wait();
}

}  // namespace attn::nn::detail
