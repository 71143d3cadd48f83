// Scaled dot-product attention: the flash forward, its backward, the attention weights and the
// dropout keep mask, on arrays read in place (attention_call.h).
#include <algorithm>
#include <ctime>
#include <string>

#include "attention_call.h"

namespace attn::python {

namespace {

// forward(q, k, v, out, want_lse, spec, input_type, output_type) → (out, lse or None): q, k, v
// of input_type, out of output_type ("f32", "bf16" or "f16"; attention_call.h).
py::tuple forward(const py::handle& q, const py::handle& k, const py::handle& v,
                  const py::handle& out, bool want_lse, const py::tuple& spec,
                  const std::string& input_type, const std::string& output_type) {
  AttentionCall call(q, k, v, out, spec, parse_element_type(input_type),
                     parse_element_type(output_type));
  if (want_lse) call.set_lse(py::none());
  const std::vector<AttentionParams> parts = call.parts();
  without_gil([&] {
    for (const AttentionParams& p : parts) flash_attention_forward(p);
  });
  return py::make_tuple(call.out().array, call.lse());
}

View4 grad_view(const py::handle& given, const View4& like, bool blhd) {
  return given.is_none() ? new_view4(like.batch, like.heads, like.len, like.dim, blhd)
                         : view4(given, blhd, "grad");
}

AttentionGrads grads_part(const AttentionGrads& g, int64_t b) {
  AttentionGrads part = g;
  if (g.dout) part.dout = g.dout + b * g.dout_stride.batch;
  if (g.dout16) part.dout16 = g.dout16 + b * g.dout_stride.batch;
  part.dq = g.dq + b * g.dq_stride.batch;
  part.dk = g.dk + b * g.dk_stride.batch;
  part.dv = g.dv + b * g.dv_stride.batch;
  return part;
}

// backward(q, k, v, out, lse, dout, dq, dk, dv, spec, input_type, output_type) → (dq, dk, dv);
// the d* may be None. q, k, v and dout of input_type, out of output_type; dq, dk, dv float32.
py::tuple backward(const py::handle& q, const py::handle& k, const py::handle& v,
                   const py::handle& out, const py::handle& lse, const py::handle& dout,
                   const py::handle& dq, const py::handle& dk, const py::handle& dv,
                   const py::tuple& spec, const std::string& input_type,
                   const std::string& output_type) {
  AttentionCall call(q, k, v, out, spec, parse_element_type(input_type),
                     parse_element_type(output_type));
  call.set_lse(lse);
  const bool blhd = call.blhd();
  const View4 d_out = view4(dout, blhd, "grad_output", call.params().input_type);
  ATTN_CHECK(d_out.batch == call.out().batch && d_out.heads == call.out().heads &&
                 d_out.len == call.out().len && d_out.dim == call.out().dim,
             "grad_output: shape differs from the output's");
  const View4 d_q = grad_view(dq, call.q(), blhd), d_k = grad_view(dk, call.k(), blhd),
              d_v = grad_view(dv, call.v(), blhd);
  AttentionGrads g;
  g.dout = d_out.data, g.dout16 = d_out.data16, g.dout_stride = d_out.stride;
  g.dq = d_q.data, g.dq_stride = d_q.stride;
  g.dk = d_k.data, g.dk_stride = d_k.stride;
  g.dv = d_v.data, g.dv_stride = d_v.stride;
  const std::vector<AttentionParams> parts = call.parts();
  without_gil([&] {
    if (parts.size() == 1) return flash_attention_backward(parts[0], g);
    for (size_t b = 0; b < parts.size(); ++b) {
      flash_attention_backward(parts[b], grads_part(g, static_cast<int64_t>(b)));
    }
  });
  return py::make_tuple(d_q.array, d_k.array, d_v.array);
}

// weights(q, k, v, out, lse, row_begin, row_end, average_heads, spec, input_type, output_type)
//   → [B, Hq (1 if averaged), rows, Lk], float32; out and lse None: a forward runs first.
py::array_t<float> weights(const py::handle& q, const py::handle& k, const py::handle& v,
                           const py::handle& out, const py::handle& lse, int64_t row_begin,
                           int64_t row_end, bool average_heads, const py::tuple& spec,
                           const std::string& input_type, const std::string& output_type) {
  AttentionCall call(q, k, v, out, spec, parse_element_type(input_type),
                     parse_element_type(output_type));
  const bool run_forward = lse.is_none();
  call.set_lse(lse);
  const AttentionParams& p = call.params();
  if (row_end < 0) row_end = p.q_len;
  ATTN_CHECK(0 <= row_begin && row_begin < row_end && row_end <= p.q_len, "rows: [", row_begin,
             ", ", row_end, ") is not a non-empty range of the ", p.q_len, " query rows");
  const int64_t heads = average_heads ? 1 : p.q_heads, rows = row_end - row_begin;
  py::array_t<float> w(std::vector<py::ssize_t>{p.batch, heads, rows, p.kv_len});
  WeightsRequest request{row_begin,
                         row_end,
                         average_heads,
                         static_cast<float*>(w.mutable_data()),
                         {heads * rows * p.kv_len, rows * p.kv_len, p.kv_len, 1}};
  const std::vector<AttentionParams> parts = call.parts();
  without_gil([&] {
    for (size_t b = 0; b < parts.size(); ++b) {
      if (run_forward) flash_attention_forward(parts[b]);
      WeightsRequest part = request;
      part.out += static_cast<int64_t>(b) * request.out_stride.batch;
      attention_weights(parts[b], part);
    }
  });
  return w;
}

// The keep bits of attention dropout [B, H, Lq, Lk] (True = kept), as the kernels draw them.
py::array_t<bool> dropout_keep(int64_t batch, int64_t heads, int64_t q_len, int64_t kv_len,
                               float dropout_p, uint64_t seed, uint64_t offset, bool per_batch) {
  ATTN_CHECK(batch > 0 && heads > 0 && q_len > 0 && kv_len > 0, "dropout_keep: empty shape");
  ATTN_CHECK(dropout_p >= 0.0f && dropout_p < 1.0f, "dropout_p must be in [0, 1), got ", dropout_p);
  py::array_t<bool> keep(std::vector<py::ssize_t>{batch, heads, q_len, kv_len});
  bool* data = keep.mutable_data();
  const uint32_t threshold = dropout_threshold(dropout_p);
  py::gil_scoped_release release;
  for (int64_t b = 0; b < batch; ++b) {
    const uint64_t stream = per_batch ? offset ^ (static_cast<uint64_t>(b) << 32) : offset;
    for (int64_t h = 0; h < heads; ++h) {
      const DropoutKeys keys = dropout_keys(seed, stream, per_batch ? 0 : b, h);
      for (int64_t i = 0; i < q_len; ++i) {
        const uint32_t row = dropout_row_hash(keys, i);
        for (int64_t j = 0; j < kv_len; ++j) {
          *data++ = dropout_keeps(row, dropout_col_hash(keys, j), threshold);
        }
      }
    }
  }
  return keep;
}

// CPU seconds of the calling thread per flash_attention_forward call on these inputs, over
// `iterations` calls timed in C++: the baseline of the per-call overhead benchmark
// (bench/python_bench.py). CPU time, not wall time, so that other load on the machine does not
// count; with one OpenMP thread the kernel runs on the calling thread.
double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double time_forward(const py::handle& q, const py::handle& k, const py::handle& v,
                    const py::tuple& spec, int64_t iterations) {
  AttentionCall call(q, k, v, py::none(), spec);
  call.set_lse(py::none());
  const AttentionParams p = call.params();
  return without_gil([&] {
    flash_attention_forward(p);  // warm-up
    const double start = thread_cpu_seconds();
    for (int64_t i = 0; i < iterations; ++i) flash_attention_forward(p);
    return (thread_cpu_seconds() - start) / static_cast<double>(std::max<int64_t>(iterations, 1));
  });
}

// The checks of the kernels (attn::validate, same messages) on sizes and options alone: the
// float64 path, which does not run the kernels, calls this first.
void validate_sizes(py::tuple sizes, std::optional<float> scale, float softcap, float dropout_p,
                    bool causal, int64_t window_left, int64_t window_right) {
  static const float dummy[1] = {0.0f};
  AttentionParams p;
  p.q = p.k = p.v = dummy;
  p.out = const_cast<float*>(dummy);
  p.batch = sizes[0].cast<int64_t>(), p.q_heads = sizes[1].cast<int64_t>();
  p.kv_heads = sizes[2].cast<int64_t>(), p.q_len = sizes[3].cast<int64_t>();
  p.kv_len = sizes[4].cast<int64_t>(), p.head_dim = sizes[5].cast<int64_t>();
  p.v_head_dim = sizes[6].cast<int64_t>();
  p.scale = scale, p.softcap = softcap, p.dropout_p = dropout_p;
  p.causal = causal, p.window_left = window_left, p.window_right = window_right;
  validate(p);
}

}  // namespace

void bind_sdpa(py::module_& m) {
  m.def("forward", &forward, "flash forward", py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("out"), py::arg("want_lse"), py::arg("spec"), py::arg("input_type") = "f32",
        py::arg("output_type") = "f32");
  m.def("backward", &backward, "flash backward", py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("out"), py::arg("lse"), py::arg("dout"), py::arg("dq"), py::arg("dk"),
        py::arg("dv"), py::arg("spec"), py::arg("input_type") = "f32",
        py::arg("output_type") = "f32");
  m.def("weights", &weights, "attention weights recomputed from the log-sum-exp", py::arg("q"),
        py::arg("k"), py::arg("v"), py::arg("out"), py::arg("lse"), py::arg("row_begin"),
        py::arg("row_end"), py::arg("average_heads"), py::arg("spec"),
        py::arg("input_type") = "f32", py::arg("output_type") = "f32");
  m.def("dropout_keep", &dropout_keep, py::arg("batch"), py::arg("heads"), py::arg("q_len"),
        py::arg("kv_len"), py::arg("dropout_p"), py::arg("seed"), py::arg("offset") = 0,
        py::arg("per_batch") = false);
  m.def("time_forward", &time_forward, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("spec"),
        py::arg("iterations"));
  m.def("validate_sizes", &validate_sizes, py::arg("sizes"), py::arg("scale"), py::arg("softcap"),
        py::arg("dropout_p"), py::arg("causal"), py::arg("window_left"), py::arg("window_right"));
}

}  // namespace attn::python
