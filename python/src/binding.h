// Helpers shared by the files of the Python module: array views, threads, the GIL, errors.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <utility>

#include "attn/core/attention_params.h"
#include "attn/core/dropout_mask.h"
#include "attn/core/error.h"
#include "attn/core/simd_target.h"
#include "attn/core/tensor.h"
#include "attn/infer/kv_cache.h"
#include "attn/infer/sampler.h"
#include "attn/io/checkpoint.h"
#include "attn/kernels/attention.h"
#include "attn/kernels/decode.h"
#include "attn/model/byte_tokenizer.h"
#include "attn/model/gpt.h"
#include "attn/model/gpt_generator.h"
#include "attn/model/llama.h"
#include "attn/version.h"
#include "attn/viz/attention_page.h"
#include "attn/viz/heatmap.h"

namespace attn::python {

namespace py = pybind11;

// The module's parts, one per source file.
void bind_sdpa(py::module_& m);
void bind_kv_cache(py::module_& m);
void bind_models(py::module_& m);
void bind_viz(py::module_& m);

// A float32 array seen through the buffer protocol, without a copy. Throws TypeError for
// another dtype, ValueError for a non-unit (or misaligned) innermost stride.
py::array_t<float> float_array(const py::handle& obj, const char* name);

// Throws ValueError unless the innermost dimension of `a` has unit stride (or length ≤ 1).
void expect_last_contiguous(const py::array& a, const char* name);

// Element strides of `a`, dimension i (byte strides divided by the item size).
int64_t element_stride(const py::array& a, py::ssize_t i, const char* name);

// The element strides of a 4-D array, indexed as its dimensions come.
Strides4 strides_of(const py::array& a, const char* name);

// Throws ValueError unless `a` has `ndim` dimensions.
void expect_ndim(const py::array& a, py::ssize_t ndim, const char* name);

// The thread count set by set_num_threads (0: OpenMP's default), applied to the calling thread
// before a kernel runs: OpenMP keeps the count per thread, and Python calls come from any thread.
void apply_num_threads();

// Runs `f` with the GIL released and the thread count applied.
template <typename F>
decltype(auto) without_gil(F&& f) {
  apply_num_threads();
  py::gil_scoped_release release;
  return std::forward<F>(f)();
}

// Runs `f`, turning an attn::Error into RuntimeError (files, models: not a bad argument).
template <typename F>
decltype(auto) as_runtime_error(F&& f) {
  try {
    return std::forward<F>(f)();
  } catch (const Error& e) {
    throw std::runtime_error(e.what());
  }
}

}  // namespace attn::python
