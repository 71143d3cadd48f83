#include "sdpa_inputs.h"

#include <array>
#include <climits>
#include <cmath>
#include <sstream>

#include "attn/core/error.h"
#include "attn/io/npy.h"

namespace attn::cli {

namespace {

using Shape4 = std::array<int64_t, 4>;

bool is_float(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat64 || t == DType::kFloat16;
}
bool is_int(DType t) { return t == DType::kInt32 || t == DType::kInt64; }
bool is_bool(DType t) { return t == DType::kBool || t == DType::kUInt8; }

// Reads a .npy file; a failure names the argument that gave the file.
NpyArray read_input(const std::string& flag, const std::string& path) {
  try {
    return read_npy(path);
  } catch (const Error& e) {
    throw Error(flag + ": " + e.what());
  }
}

// Reads Q, K or V as a 4-D float tensor in the given layout.
HeadTensor load_head_tensor(const std::string& flag, const std::string& path, Layout layout) {
  const NpyArray a = read_input(flag, path);
  HeadTensor t;
  t.name = flag + " " + path;
  t.file_shape = a.shape;
  const bool bhld = layout == Layout::kBhld;
  const char* expected = bhld ? "[B, H, L, D]" : "[B, L, H, D]";
  ATTN_CHECK(is_float(a.dtype), t.name, ": expected float32, float64 or float16, got ",
             dtype_name(a.dtype));
  ATTN_CHECK(a.shape.size() == 4, t.name, ": expected a 4-D array ", expected, ", got shape ",
             shape_string(a.shape));
  for (int64_t s : a.shape) {
    ATTN_CHECK(s > 0, t.name, ": every dimension of ", expected, " must be positive, got shape ",
               shape_string(a.shape));
  }
  t.batch = a.shape[0];
  t.heads = a.shape[bhld ? 1 : 2];
  t.len = a.shape[bhld ? 2 : 1];
  t.dim = a.shape[3];
  t.stride = bhld ? bhld_strides(t.heads, t.len, t.dim) : blhd_strides(t.heads, t.len, t.dim);
  t.data = a.to_float32();
  return t;
}

// Throws unless `what` of tensor b (value y) equals that of tensor a (value x).
void check_same(const char* what, const HeadTensor& a, int64_t x, const HeadTensor& b, int64_t y) {
  ATTN_CHECK(x == y, b.name, ": ", what, " ", y, " does not match ", what, " ", x, " of ", a.name,
             " (shapes ", shape_string(b.file_shape), " and ", shape_string(a.file_shape), ")");
}

// Checks that Q, K and V fit together: B, D, Hkv and Lk agree, and Hq is a multiple of Hkv.
void check_qkv(const HeadTensor& q, const HeadTensor& k, const HeadTensor& v) {
  check_same("batch size", q, q.batch, k, k.batch);
  check_same("batch size", q, q.batch, v, v.batch);
  check_same("head dim", q, q.dim, k, k.dim);
  check_same("head count", k, k.heads, v, v.heads);
  check_same("length", k, k.len, v, v.len);
  ATTN_CHECK(q.heads % k.heads == 0, q.name, ": query heads Hq=", q.heads,
             " are not a multiple of the key/value heads Hkv=", k.heads, " of ", k.name,
             " (shapes ", shape_string(q.file_shape), " and ", shape_string(k.file_shape), ")");
}

// Strides that broadcast an array of `shape` (NumPy rules, right-aligned) to `target`.
Strides4 broadcast_strides(const std::string& name, const std::vector<int64_t>& shape,
                           const Shape4& target) {
  Shape4 dims = {1, 1, 1, 1};
  std::copy(shape.begin(), shape.end(), dims.end() - static_cast<std::ptrdiff_t>(shape.size()));
  Shape4 strides{};
  int64_t step = 1;
  for (int i = 3; i >= 0; --i) {
    ATTN_CHECK(
        dims[i] == target[i] || dims[i] == 1, name, ": shape ", shape_string(shape),
        " does not broadcast to [B, Hq, Lq, Lk] = ", shape_string({target.begin(), target.end()}));
    strides[i] = dims[i] == 1 ? 0 : step;
    step *= dims[i];
  }
  return {strides[0], strides[1], strides[2], strides[3]};
}

// Reads the mask into in.bool_mask or in.additive_mask, with strides broadcasting it to target.
void load_mask(const std::string& path, const Shape4& target, SdpaInputs& in) {
  const NpyArray a = read_input("--mask", path);
  const std::string name = "--mask " + path;
  ATTN_CHECK(is_bool(a.dtype) || is_float(a.dtype), name, ": expected a bool or float mask, got ",
             dtype_name(a.dtype));
  ATTN_CHECK(a.shape.size() >= 2 && a.shape.size() <= 4, name,
             ": expected a 2-D, 3-D or 4-D mask broadcastable to [B, Hq, Lq, Lk] = ",
             shape_string({target.begin(), target.end()}), ", got shape ", shape_string(a.shape));
  in.mask_stride = broadcast_strides(name, a.shape, target);
  if (is_bool(a.dtype)) {
    in.bool_mask = a.to_bool();
  } else {
    in.additive_mask = a.to_float32();
  }
}

// Reads the key lengths [B], each in [0, Lk].
std::vector<int64_t> load_key_lengths(const std::string& path, int64_t batch, int64_t kv_len) {
  const NpyArray a = read_input("--key-lengths", path);
  const std::string name = "--key-lengths " + path;
  ATTN_CHECK(is_int(a.dtype), name, ": expected int32 or int64, got ", dtype_name(a.dtype));
  ATTN_CHECK(a.shape == std::vector<int64_t>{batch}, name, ": expected shape [B] = [", batch,
             "], got ", shape_string(a.shape));
  std::vector<int64_t> lengths = a.to_int64();
  for (int64_t b = 0; b < batch; ++b) {
    ATTN_CHECK(lengths[b] >= 0 && lengths[b] <= kv_len, name, ": key length ", lengths[b],
               " of batch ", b, " is outside [0, Lk=", kv_len, "]");
  }
  return lengths;
}

// Reads the ALiBi slopes [Hq], each finite.
std::vector<float> load_alibi_slopes(const std::string& path, int64_t q_heads) {
  const NpyArray a = read_input("--alibi", path);
  const std::string name = "--alibi " + path;
  ATTN_CHECK(is_float(a.dtype), name, ": expected float32, float64 or float16, got ",
             dtype_name(a.dtype));
  ATTN_CHECK(a.shape == std::vector<int64_t>{q_heads}, name, ": expected shape [Hq] = [", q_heads,
             "], got ", shape_string(a.shape));
  std::vector<float> slopes = a.to_float32();
  for (int64_t h = 0; h < q_heads; ++h) {
    ATTN_CHECK(std::isfinite(slopes[h]), name, ": slope of head ", h, " is not finite");
  }
  return slopes;
}

// Reads dout, which must have the output's shape [B, Hq, Lq, Dv].
std::vector<float> load_dout(const std::string& path, const std::vector<int64_t>& shape) {
  const NpyArray a = read_input("--dout", path);
  const std::string name = "--dout " + path;
  ATTN_CHECK(is_float(a.dtype), name, ": expected float32, float64 or float16, got ",
             dtype_name(a.dtype));
  ATTN_CHECK(a.shape == shape, name,
             ": expected the output's shape [B, Hq, Lq, Dv] = ", shape_string(shape), ", got ",
             shape_string(a.shape));
  return a.to_float32();
}

// Reads the offsets of packed sequences, int [n + 1] with n ≥ 1; their values are checked by
// the kernels' validation (start 0, non-decreasing, end at the total length).
std::vector<int32_t> load_offsets(const std::string& flag, const std::string& path) {
  const NpyArray a = read_input(flag, path);
  const std::string name = flag + " " + path;
  ATTN_CHECK(is_int(a.dtype), name, ": expected int32 or int64, got ", dtype_name(a.dtype));
  ATTN_CHECK(a.shape.size() == 1 && a.shape[0] >= 2, name,
             ": expected the offsets [n + 1] of n >= 1 sequences, got shape ",
             shape_string(a.shape));
  std::vector<int32_t> offsets;
  for (int64_t x : a.to_int64()) {
    ATTN_CHECK(x >= 0 && x <= INT32_MAX, name, ": offset ", x, " is outside [0, 2^31)");
    offsets.push_back(static_cast<int32_t>(x));
  }
  return offsets;
}

// Reads --cu-seqlens-q and --cu-seqlens-k, which come together, with B = 1 packed inputs.
void load_packed(const SdpaFiles& files, SdpaInputs& in) {
  if (files.cu_seqlens_q.empty() && files.cu_seqlens_k.empty()) return;
  ATTN_CHECK(!files.cu_seqlens_q.empty() && !files.cu_seqlens_k.empty(),
             "--cu-seqlens-q and --cu-seqlens-k must be given together");
  ATTN_CHECK(in.q.batch == 1, "--cu-seqlens-q: packed sequences need q, k and v with a batch of ",
             "one, got B=", in.q.batch, " (", in.q.name, ")");
  ATTN_CHECK(in.key_lengths.empty(), "--key-lengths cannot be combined with --cu-seqlens-q/-k");
  in.cu_seqlens_q = load_offsets("--cu-seqlens-q", files.cu_seqlens_q);
  in.cu_seqlens_k = load_offsets("--cu-seqlens-k", files.cu_seqlens_k);
  ATTN_CHECK(in.cu_seqlens_q.size() == in.cu_seqlens_k.size(), "--cu-seqlens-k ",
             files.cu_seqlens_k, ": ", in.cu_seqlens_k.size(), " offsets, but --cu-seqlens-q has ",
             in.cu_seqlens_q.size());
}

}  // namespace

SdpaInputs load_sdpa_inputs(const SdpaFiles& files) {
  SdpaInputs in;
  in.q = load_head_tensor("--q", files.q, files.layout);
  in.k = load_head_tensor("--k", files.k, files.layout);
  in.v = load_head_tensor("--v", files.v, files.layout);
  check_qkv(in.q, in.k, in.v);
  if (!files.mask.empty()) load_mask(files.mask, {in.q.batch, in.q.heads, in.q.len, in.k.len}, in);
  if (!files.key_lengths.empty()) {
    in.key_lengths = load_key_lengths(files.key_lengths, in.q.batch, in.k.len);
  }
  if (!files.alibi.empty()) in.alibi_slopes = load_alibi_slopes(files.alibi, in.q.heads);
  if (!files.dout.empty()) {
    in.dout = load_dout(files.dout, {in.q.batch, in.q.heads, in.q.len, in.v.dim});
  }
  load_packed(files, in);
  return in;
}

AttentionParams bind_inputs(const SdpaInputs& in) {
  const auto view = [](const HeadTensor& t) {
    return ConstTensorView4{t.data.data(), t.batch, t.heads, t.len, t.dim, t.stride};
  };
  AttentionParams p =
      attention_params(view(in.q), view(in.k), view(in.v),
                       TensorView4::bhld(nullptr, in.q.batch, in.q.heads, in.q.len, in.v.dim));
  p.bool_mask = in.bool_mask.empty() ? nullptr : in.bool_mask.data();
  p.bool_mask_stride = in.mask_stride;
  p.additive_mask = in.additive_mask.empty() ? nullptr : in.additive_mask.data();
  p.additive_mask_stride = in.mask_stride;
  p.key_lengths = in.key_lengths.empty() ? nullptr : in.key_lengths.data();
  p.alibi_slopes = in.alibi_slopes.empty() ? nullptr : in.alibi_slopes.data();
  if (!in.cu_seqlens_q.empty()) {
    p.cu_seqlens_q = in.cu_seqlens_q.data();
    p.cu_seqlens_k = in.cu_seqlens_k.data();
    p.sequences = static_cast<int64_t>(in.cu_seqlens_q.size()) - 1;
  }
  return p;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << '[';
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << ']';
  return s.str();
}

}  // namespace attn::cli
