// The extension module attn._attn: the library's version, threads, SIMD targets, errors, and the
// parts bound in the other files of this folder.
#include <omp.h>

#include <atomic>

#include "binding.h"

namespace attn::python {

namespace {

std::atomic<int> g_num_threads{0};

void set_num_threads(int n) {
  if (n < 1) throw py::value_error("set_num_threads: n must be >= 1, got " + std::to_string(n));
  g_num_threads = n;
  omp_set_num_threads(n);
}

int get_num_threads() {
  const int n = g_num_threads;
  return n > 0 ? n : omp_get_max_threads();
}

// attn::Error is a rejected input: ValueError. Other exceptions keep pybind11's mapping
// (std::runtime_error → RuntimeError, std::bad_alloc → MemoryError).
void translate_error(std::exception_ptr p) {
  try {
    if (p) std::rethrow_exception(p);
  } catch (const Error& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  }
}

void force_target(const std::string& name) { force_simd_target(name); }

}  // namespace

void apply_num_threads() {
  const int n = g_num_threads;
  if (n > 0 && omp_get_max_threads() != n) omp_set_num_threads(n);
}

py::array_t<float> float_array(const py::handle& obj, const char* name) {
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(std::string(name) + ": expected an array, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  }
  if (!py::isinstance<py::array_t<float>>(obj)) {
    throw py::type_error(std::string(name) + ": expected float32, got " +
                         std::string(py::str(py::reinterpret_borrow<py::array>(obj).dtype())));
  }
  auto a = py::reinterpret_borrow<py::array_t<float>>(obj);
  expect_last_contiguous(a, name);
  return a;
}

void expect_last_contiguous(const py::array& a, const char* name) {
  const py::ssize_t last = a.ndim() - 1;
  if (a.ndim() > 0 && a.shape(last) > 1 && a.strides(last) != a.itemsize()) {
    throw py::value_error(
        std::string(name) + ": the last dimension must be contiguous (stride 1), got stride " +
        std::to_string(a.strides(last) / a.itemsize()) + "; pass a contiguous copy");
  }
}

int64_t element_stride(const py::array& a, py::ssize_t i, const char* name) {
  const py::ssize_t bytes = a.strides(i), item = a.itemsize();
  if (bytes % item != 0) {
    throw py::value_error(std::string(name) + ": stride of dimension " + std::to_string(i) +
                          " is not a whole number of elements");
  }
  // A dimension of size 1 is never stepped over: its stride is irrelevant.
  return a.shape(i) == 1 ? 0 : bytes / item;
}

Strides4 strides_of(const py::array& a, const char* name) {
  expect_ndim(a, 4, name);
  return {element_stride(a, 0, name), element_stride(a, 1, name), element_stride(a, 2, name),
          a.shape(3) == 1 ? 1 : element_stride(a, 3, name)};
}

void expect_ndim(const py::array& a, py::ssize_t ndim, const char* name) {
  if (a.ndim() != ndim) {
    throw py::value_error(std::string(name) + ": expected " + std::to_string(ndim) +
                          " dimensions, got " + std::to_string(a.ndim()));
  }
}

PYBIND11_MODULE(_attn, m) {
  m.doc() = "attn's C++ kernels (use the attn package, not this module)";
  py::register_exception_translator(&translate_error);
  m.def("version", [] { return std::string(version()); });
  m.def("set_num_threads", &set_num_threads, py::arg("n"));
  m.def("get_num_threads", &get_num_threads);
  m.def("simd_target", &active_simd_target);
  m.def("supported_simd_targets", &supported_simd_targets);
  m.def("force_simd_target", &force_target, py::arg("name"));
  bind_sdpa(m);
  bind_kv_cache(m);
  bind_models(m);
  bind_viz(m);
}

}  // namespace attn::python
