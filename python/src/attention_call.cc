#include "attention_call.h"

#include <string>

namespace attn::python {

namespace {

std::string shape_string(const py::array& a) {
  std::string s = "[";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + "]";
}

// Element strides of a mask broadcast to [B, Hq, Lq, Lk] (right-aligned, size 1 → stride 0).
Strides4 broadcast_strides(const py::array& m, const int64_t (&target)[4], const char* name) {
  if (m.ndim() > 4) {
    throw py::value_error(std::string(name) + ": expected at most 4 dimensions, got " +
                          std::to_string(m.ndim()));
  }
  int64_t s[4] = {0, 0, 0, 0};
  for (py::ssize_t i = 0; i < m.ndim(); ++i) {
    const py::ssize_t t = 4 - m.ndim() + i;
    if (m.shape(i) != 1 && m.shape(i) != target[t]) {
      throw py::value_error(std::string(name) + ": shape " + shape_string(m) +
                            " does not broadcast to [" + std::to_string(target[0]) + ", " +
                            std::to_string(target[1]) + ", " + std::to_string(target[2]) + ", " +
                            std::to_string(target[3]) + "]");
    }
    s[t] = element_stride(m, i, name);
  }
  return {s[0], s[1], s[2], s[3]};
}

}  // namespace

namespace {

// The sizes and strides of dimensions (0, 1, 2, 3) read as [b, h, l, d].
void set_layout(View4& v, const int64_t (&shape)[4], const Strides4& s, bool blhd) {
  v.batch = shape[0];
  v.dim = shape[3];
  if (blhd) {
    v.len = shape[1], v.heads = shape[2];
    v.stride = {s.batch, s.row, s.head, s.col};
  } else {
    v.heads = shape[1], v.len = shape[2];
    v.stride = s;
  }
}

// The 4 integers of a tuple (torch.Size is one), read without building a vector: this is the
// per-call path of tensors.
bool read4(const py::handle& t, int64_t (&out)[4]) {
  if (!PyTuple_Check(t.ptr()) || PyTuple_GET_SIZE(t.ptr()) != 4) return false;
  for (Py_ssize_t i = 0; i < 4; ++i) out[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(t.ptr(), i));
  return !PyErr_Occurred();
}

// A CPU tensor described by (data_ptr, shape, strides in elements), its pointer in v.data whatever
// its dtype: the caller has checked the dtype and the device and keeps the tensor alive.
View4 tensor_view4(const py::tuple& desc, bool blhd, const char* name) {
  int64_t shape[4], stride[4];
  if (desc.size() != 3 || !read4(desc[1], shape) || !read4(desc[2], stride)) {
    PyErr_Clear();
    throw py::value_error(std::string(name) + ": expected a 4-D tensor");
  }
  if (shape[3] > 1 && stride[3] != 1) {
    throw py::value_error(std::string(name) +
                          ": the last dimension must be contiguous (stride 1), got stride " +
                          std::to_string(stride[3]) + "; pass a contiguous copy");
  }
  View4 v;
  v.data = reinterpret_cast<float*>(desc[0].cast<uintptr_t>());
  auto at = [&](int i) { return shape[i] == 1 ? 0 : stride[i]; };
  set_layout(v, shape, {at(0), at(1), at(2), shape[3] == 1 ? 1 : at(3)}, blhd);
  return v;
}

}  // namespace

namespace {

// A 16-bit array of type t seen without a copy: float16 (for kF16), or int16 / uint16 bit
// patterns. TypeError for another dtype, ValueError for a non-unit innermost stride.
py::array array16(const py::handle& obj, ElementType t, const char* name) {
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(std::string(name) + ": expected an array, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  }
  auto a = py::reinterpret_borrow<py::array>(obj);
  const char kind = a.dtype().kind();
  const bool bits = (kind == 'i' || kind == 'u') && a.itemsize() == 2;
  const bool half = kind == 'f' && a.itemsize() == 2 && t == ElementType::kF16;
  if (!bits && !half) {
    throw py::type_error(std::string(name) + ": expected " +
                         (t == ElementType::kF16 ? "float16" : "bfloat16 bits (int16)") + ", got " +
                         std::string(py::str(a.dtype())));
  }
  expect_last_contiguous(a, name);
  return a;
}

}  // namespace

View4 view4(const py::handle& obj, bool blhd, const char* name, ElementType t) {
  const bool wide = t == ElementType::kF32;
  View4 v;
  if (py::isinstance<py::tuple>(obj)) {
    v = tensor_view4(obj.cast<py::tuple>(), blhd, name);
  } else {
    // Inputs may be read-only (np.broadcast_to views); outputs are the arrays made here.
    v.array = wide ? py::array(float_array(obj, name)) : array16(obj, t, name);
    expect_ndim(v.array, 4, name);
    v.data = static_cast<float*>(const_cast<void*>(v.array.data()));
    const int64_t shape[4] = {v.array.shape(0), v.array.shape(1), v.array.shape(2),
                              v.array.shape(3)};
    set_layout(v, shape, strides_of(v.array, name), blhd);
  }
  if (!wide) {  // the same pointer, to 16-bit elements
    v.data16 = reinterpret_cast<uint16_t*>(v.data);
    v.data = nullptr;
  }
  return v;
}

ElementType parse_element_type(const std::string& name) {
  for (ElementType t : {ElementType::kF32, ElementType::kBF16, ElementType::kF16}) {
    if (name == element_type_name(t)) return t;
  }
  throw py::value_error("element type: expected 'f32', 'bf16' or 'f16', got '" + name + "'");
}

View4 new_view4(int64_t batch, int64_t heads, int64_t len, int64_t dim, bool blhd, ElementType t) {
  const char* dtype = t == ElementType::kF32   ? "float32"
                      : t == ElementType::kF16 ? "float16"
                                               : "int16";
  py::array a(py::dtype(dtype), blhd ? std::vector<py::ssize_t>{batch, len, heads, dim}
                                     : std::vector<py::ssize_t>{batch, heads, len, dim});
  View4 v;
  if (t == ElementType::kF32) {
    v.data = static_cast<float*>(a.mutable_data());
  } else {
    v.data16 = static_cast<uint16_t*>(a.mutable_data());
  }
  v.array = a;
  const int64_t shape[4] = {a.shape(0), a.shape(1), a.shape(2), a.shape(3)};
  set_layout(v, shape, blhd ? bhld_strides(len, heads, dim) : bhld_strides(heads, len, dim), blhd);
  return v;
}

AttentionCall::AttentionCall(const py::handle& q, const py::handle& k, const py::handle& v,
                             const py::handle& out, const py::tuple& spec, ElementType input_type,
                             ElementType output_type) {
  if (spec.size() != kSpecFields) throw py::value_error("attention spec: wrong number of fields");
  blhd_ = spec[0].cast<bool>();
  q_ = view4(q, blhd_, "query", input_type);
  k_ = view4(k, blhd_, "key", input_type);
  v_ = view4(v, blhd_, "value", input_type);
  if (out.is_none()) {
    out_ = new_view4(q_.batch, q_.heads, q_.len, v_.dim, blhd_, output_type);
  } else {
    out_ = view4(out, blhd_, "out", output_type);
  }
  p_.q = q_.data, p_.q16 = q_.data16, p_.q_stride = q_.stride;
  p_.k = k_.data, p_.k16 = k_.data16, p_.k_stride = k_.stride;
  p_.v = v_.data, p_.v16 = v_.data16, p_.v_stride = v_.stride;
  p_.out = out_.data, p_.out16 = out_.data16, p_.out_stride = out_.stride;
  p_.input_type = input_type, p_.output_type = output_type;
  p_.batch = q_.batch, p_.q_heads = q_.heads, p_.kv_heads = k_.heads;
  p_.q_len = q_.len, p_.kv_len = k_.len, p_.head_dim = q_.dim, p_.v_head_dim = v_.dim;
  ATTN_CHECK(k_.batch == q_.batch && v_.batch == q_.batch, "key/value: batch ", k_.batch, "/",
             v_.batch, " differs from the query's ", q_.batch);
  ATTN_CHECK(v_.heads == k_.heads && v_.len == k_.len, "value: heads and length (", v_.heads, ", ",
             v_.len, ") differ from the key's (", k_.heads, ", ", k_.len, ")");
  ATTN_CHECK(k_.dim == q_.dim, "key: head dim ", k_.dim, " differs from the query's ", q_.dim);
  ATTN_CHECK(
      out_.batch == q_.batch && out_.heads == q_.heads && out_.len == q_.len && out_.dim == v_.dim,
      "out: wrong shape");
  read_options(spec);
  read_masks(spec[1], spec[2]);
  read_alibi(spec[3]);
  read_packed(spec);
}

void AttentionCall::read_packed(const py::tuple& spec) {
  if (spec[13].is_none() && spec[14].is_none()) return;
  ATTN_CHECK(!spec[13].is_none() && !spec[14].is_none(),
             "cu_seqlens_q and cu_seqlens_k must be given together");
  const auto offsets = [](const py::handle& obj, const char* name) {
    if (!py::isinstance<py::array_t<int32_t>>(obj)) {
      throw py::type_error(std::string(name) + ": expected an int32 array");
    }
    auto a = py::array_t<int32_t, py::array::c_style>::ensure(obj);
    expect_ndim(a, 1, name);
    return a;
  };
  cu_seqlens_q_ = offsets(spec[13], "cu_seqlens_q");
  cu_seqlens_k_ = offsets(spec[14], "cu_seqlens_k");
  ATTN_CHECK(cu_seqlens_q_.shape(0) == cu_seqlens_k_.shape(0) && cu_seqlens_q_.shape(0) >= 2,
             "cu_seqlens_q and cu_seqlens_k: expected the same number n + 1 >= 2 of offsets, got ",
             cu_seqlens_q_.shape(0), " and ", cu_seqlens_k_.shape(0));
  ATTN_CHECK(alibi_batches_ == 0, "alibi_slopes: packed sequences take slopes of shape [",
             p_.q_heads, "]");
  p_.cu_seqlens_q = cu_seqlens_q_.data();
  p_.cu_seqlens_k = cu_seqlens_k_.data();
  p_.sequences = cu_seqlens_q_.shape(0) - 1;
  p_.max_seqlen_q = spec[15].cast<int64_t>();
  p_.max_seqlen_k = spec[16].cast<int64_t>();
}

void AttentionCall::read_options(const py::tuple& spec) {
  if (!spec[4].is_none()) p_.scale = spec[4].cast<float>();
  p_.softcap = spec[5].cast<float>();
  p_.causal = spec[6].cast<bool>();
  p_.causal_align = spec[7].cast<bool>() ? CausalAlign::kTopLeft : CausalAlign::kBottomRight;
  p_.window_left = spec[8].cast<int64_t>();
  p_.window_right = spec[9].cast<int64_t>();
  p_.dropout_p = spec[10].cast<float>();
  p_.dropout_seed = spec[11].cast<uint64_t>();
  p_.dropout_offset = spec[12].cast<uint64_t>();
}

void AttentionCall::read_masks(const py::handle& bool_mask, const py::handle& additive_mask) {
  const int64_t target[4] = {p_.batch, p_.q_heads, p_.q_len, p_.kv_len};
  if (!bool_mask.is_none()) {
    if (!py::isinstance<py::array_t<bool>>(bool_mask)) {
      throw py::type_error("attn_mask: a boolean mask must be an array of dtype bool");
    }
    bool_mask_ = py::reinterpret_borrow<py::array>(bool_mask);
    p_.bool_mask = static_cast<const uint8_t*>(bool_mask_.data());
    p_.bool_mask_stride = broadcast_strides(bool_mask_, target, "attn_mask");
  }
  if (!additive_mask.is_none()) {
    additive_mask_ = float_array(additive_mask, "attn_mask");
    p_.additive_mask = static_cast<const float*>(additive_mask_.data());
    p_.additive_mask_stride = broadcast_strides(additive_mask_, target, "attn_mask");
  }
}

void AttentionCall::read_alibi(const py::handle& alibi) {
  if (alibi.is_none()) return;
  alibi_ = float_array(alibi, "alibi_slopes");
  const bool per_batch = alibi_.ndim() == 2;
  ATTN_CHECK((alibi_.ndim() == 1 && alibi_.shape(0) == p_.q_heads) ||
                 (per_batch && alibi_.shape(0) == p_.batch && alibi_.shape(1) == p_.q_heads),
             "alibi_slopes: expected shape [", p_.q_heads, "] or [", p_.batch, ", ", p_.q_heads,
             "], got ", shape_string(alibi_));
  p_.alibi_slopes = static_cast<const float*>(alibi_.data());
  if (per_batch) {
    alibi_batches_ = p_.batch;
    alibi_batch_stride_ = element_stride(alibi_, 0, "alibi_slopes");
  }
}

void AttentionCall::set_lse(const py::handle& lse) {
  py::array_t<float> a =
      lse.is_none() ? py::array_t<float>(std::vector<py::ssize_t>{p_.batch, p_.q_heads, p_.q_len})
                    : float_array(lse, "lse");
  expect_ndim(a, 3, "lse");
  ATTN_CHECK(a.shape(0) == p_.batch && a.shape(1) == p_.q_heads && a.shape(2) == p_.q_len,
             "lse: expected shape [", p_.batch, ", ", p_.q_heads, ", ", p_.q_len, "]");
  p_.lse = static_cast<float*>(a.mutable_data());
  p_.lse_stride = {element_stride(a, 0, "lse"), element_stride(a, 1, "lse"),
                   a.shape(2) == 1 ? 1 : element_stride(a, 2, "lse"), 0};
  lse_ = a;
}

std::vector<AttentionParams> AttentionCall::parts() const {
  if (alibi_batches_ == 0) return {p_};
  std::vector<AttentionParams> parts;
  for (int64_t b = 0; b < p_.batch; ++b) {
    parts.push_back(batch_part(p_, b, p_.alibi_slopes + b * alibi_batch_stride_));
  }
  return parts;
}

AttentionParams batch_part(const AttentionParams& p, int64_t b, const float* slopes) {
  AttentionParams part = p;
  part.batch = 1;
  // Each tensor is given as floats or as 16-bit patterns; the other pointer stays null.
  const auto moved = [b](auto* ptr, const Strides4& s) { return ptr ? ptr + b * s.batch : ptr; };
  part.q = moved(p.q, p.q_stride), part.q16 = moved(p.q16, p.q_stride);
  part.k = moved(p.k, p.k_stride), part.k16 = moved(p.k16, p.k_stride);
  part.v = moved(p.v, p.v_stride), part.v16 = moved(p.v16, p.v_stride);
  part.out = moved(p.out, p.out_stride), part.out16 = moved(p.out16, p.out_stride);
  if (p.lse) part.lse = p.lse + b * p.lse_stride.batch;
  if (p.bool_mask) part.bool_mask = p.bool_mask + b * p.bool_mask_stride.batch;
  if (p.additive_mask) part.additive_mask = p.additive_mask + b * p.additive_mask_stride.batch;
  part.alibi_slopes = slopes;
  part.dropout_offset = p.dropout_offset ^ (static_cast<uint64_t>(b) << 32);
  return part;
}

}  // namespace attn::python
