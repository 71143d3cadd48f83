// attn.KVCache and attn.decode_attention: the KV cache of generation and the decode kernel.
#include <mutex>
#include <string>

#include "binding.h"

namespace attn::python {

namespace {

KvDtype parse_dtype(const std::string& name) {
  if (name == "f32" || name == "float32") return KvDtype::kF32;
  if (name == "f16" || name == "float16") return KvDtype::kF16;
  if (name == "bf16" || name == "bfloat16") return KvDtype::kBF16;
  if (name == "q8" || name == "int8") return KvDtype::kQ8;
  throw py::value_error("dtype: expected 'f32', 'f16', 'bf16' or 'q8', got '" + name + "'");
}

const char* dtype_name(KvDtype d) {
  switch (d) {
    case KvDtype::kF32:
      return "f32";
    case KvDtype::kF16:
      return "f16";
    case KvDtype::kBF16:
      return "bf16";
    case KvDtype::kQ8:
      return "q8";
  }
  return "?";
}

KvLayout parse_layout(const std::string& name) {
  if (name == "contiguous") return KvLayout::kContiguous;
  if (name == "paged") return KvLayout::kPaged;
  throw py::value_error("layout: expected 'contiguous' or 'paged', got '" + name + "'");
}

// A KvCache with a lock: decode reads it with the GIL released while another Python thread
// could append.
struct PyKvCache {
  explicit PyKvCache(const KvCacheConfig& config) : cache(config) {}
  std::mutex mutex;
  KvCache cache;
};

// A C-contiguous float32 copy only when `obj` is not one already (new tokens are small).
py::array_t<float> tokens_array(const py::handle& obj, const char* name) {
  float_array(obj, name);  // TypeError for another dtype
  return py::array_t<float, py::array::c_style>::ensure(obj);
}

void expect_shape(const py::array& a, std::initializer_list<int64_t> shape, const char* name) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
  py::ssize_t i = 0;
  std::string want = "[";
  for (int64_t s : shape) {
    if (ok && s >= 0 && a.shape(i) != s) ok = false;
    want += (i ? ", " : "") + (s >= 0 ? std::to_string(s) : std::string("n"));
    ++i;
  }
  if (!ok) throw py::value_error(std::string(name) + ": expected shape " + want + "]");
}

// append(seq, k [n, Hkv, D], v [n, Hkv, Dv])
void append(PyKvCache& c, int64_t seq, const py::handle& k_obj, const py::handle& v_obj) {
  const KvCacheConfig& cfg = c.cache.config();
  const auto k = tokens_array(k_obj, "k"), v = tokens_array(v_obj, "v");
  expect_shape(k, {-1, cfg.kv_heads, cfg.head_dim}, "k");
  expect_shape(v, {k.shape(0), cfg.kv_heads, cfg.v_head_dim}, "v");
  without_gil([&] {
    std::lock_guard lock(c.mutex);
    c.cache.append(seq, k.shape(0), k.data(), v.data());
  });
}

// append_all(k [B, n, Hkv, D], v [B, n, Hkv, Dv])
void append_all(PyKvCache& c, const py::handle& k_obj, const py::handle& v_obj) {
  const KvCacheConfig& cfg = c.cache.config();
  const auto k = tokens_array(k_obj, "k"), v = tokens_array(v_obj, "v");
  expect_shape(k, {cfg.batch, -1, cfg.kv_heads, cfg.head_dim}, "k");
  expect_shape(v, {cfg.batch, k.shape(1), cfg.kv_heads, cfg.v_head_dim}, "v");
  without_gil([&] {
    std::lock_guard lock(c.mutex);
    c.cache.append_all(k.shape(1), k.data(), v.data());
  });
}

// read(seq, index, head) → (k [D], v [Dv]) as decode sees them.
py::tuple read(PyKvCache& c, int64_t seq, int64_t index, int64_t head) {
  std::lock_guard lock(c.mutex);
  const KvCacheConfig& cfg = c.cache.config();
  ATTN_CHECK(seq >= 0 && seq < cfg.batch, "seq ", seq, " is outside [0, ", cfg.batch, ")");
  ATTN_CHECK(index >= 0 && index < c.cache.kept(seq), "index ", index, " is outside [0, ",
             c.cache.kept(seq), ")");
  ATTN_CHECK(head >= 0 && head < cfg.kv_heads, "head ", head, " is outside [0, ", cfg.kv_heads,
             ")");
  py::array_t<float> k(cfg.head_dim), v(cfg.v_head_dim);
  c.cache.read(seq, index, head, k.mutable_data(), v.mutable_data());
  return py::make_tuple(k, v);
}

// decode_attention(q [B, n_q, Hq, D], cache) → out [B, n_q, Hq, Dv] (and lse [B, n_q, Hq]).
py::object decode(const py::handle& q_obj, PyKvCache& c, std::optional<float> scale, float softcap,
                  bool return_lse) {
  const auto q = float_array(q_obj, "q");
  expect_ndim(q, 4, "q");
  const Strides4 s = strides_of(q, "q");
  const KvCacheConfig& cfg = c.cache.config();
  const int64_t B = q.shape(0), n = q.shape(1), H = q.shape(2);
  ATTN_CHECK(B == cfg.batch && q.shape(3) == cfg.head_dim, "q: expected shape [", cfg.batch,
             ", n_q, Hq, ", cfg.head_dim, "]");
  py::array_t<float> out(std::vector<py::ssize_t>{B, n, H, cfg.v_head_dim});
  py::array_t<float> lse(std::vector<py::ssize_t>{B, n, H});
  DecodeParams p;
  p.q = q.data(), p.q_stride = {s.batch, s.row, s.head, s.col};
  p.q_heads = H, p.q_len = n;
  p.out = out.mutable_data(), p.out_stride = blhd_strides(H, n, cfg.v_head_dim);
  p.lse = lse.mutable_data(), p.lse_stride = {n * H, 1, H, 0};
  p.scale = scale, p.softcap = softcap;
  without_gil([&] {
    std::lock_guard lock(c.mutex);
    p.cache = c.cache.view();
    decode_attention(p);
  });
  if (return_lse) return py::make_tuple(out, lse);
  return out;
}

// apply_rope(x [n, heads, dim], start) → x rotated at positions start … start + n − 1.
py::array_t<float> rope(const py::handle& x_obj, int64_t start, float base) {
  float_array(x_obj, "x");
  auto x = py::array_t<float, py::array::c_style>(py::array_t<float>::ensure(x_obj));
  py::array_t<float> y(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
  std::copy(x.data(), x.data() + x.size(), y.mutable_data());
  ATTN_CHECK(y.ndim() == 3, "x: expected shape [n, heads, dim]");
  const int64_t n = y.shape(0), heads = y.shape(1), dim = y.shape(2);
  ATTN_CHECK(dim % 2 == 0, "x: the head dim must be even for RoPE, got ", dim);
  for (int64_t t = 0; t < n; ++t) {
    apply_rope(y.mutable_data() + t * heads * dim, heads, dim, start + t, base);
  }
  return y;
}

std::unique_ptr<PyKvCache> make_cache(int64_t batch, int64_t kv_heads, int64_t head_dim,
                                      std::optional<int64_t> v_head_dim, const std::string& dtype,
                                      const std::string& layout, int64_t capacity,
                                      int64_t block_tokens, int64_t max_blocks, bool rope,
                                      float rope_base, int64_t sink_tokens, int64_t window_tokens) {
  KvCacheConfig c;
  c.batch = batch, c.kv_heads = kv_heads, c.head_dim = head_dim;
  c.v_head_dim = v_head_dim.value_or(head_dim);
  c.dtype = parse_dtype(dtype), c.layout = parse_layout(layout);
  c.capacity = capacity, c.block_tokens = block_tokens, c.max_blocks = max_blocks;
  c.rope = rope, c.rope_base = rope_base;
  c.sink_tokens = sink_tokens, c.window_tokens = window_tokens;
  return std::make_unique<PyKvCache>(c);
}

}  // namespace

void bind_kv_cache(py::module_& m) {
  using C = PyKvCache;
  auto cfg = [](const C& c) -> const KvCacheConfig& { return c.cache.config(); };
  py::class_<C>(m, "KVCache", "attn::KvCache (use attn.KVCache)")
      .def(py::init(&make_cache), py::kw_only(), py::arg("batch") = 1, py::arg("kv_heads"),
           py::arg("head_dim"), py::arg("v_head_dim") = py::none(), py::arg("dtype") = "f32",
           py::arg("layout") = "contiguous", py::arg("capacity") = 0, py::arg("block_tokens") = 16,
           py::arg("max_blocks") = 0, py::arg("rope") = false, py::arg("rope_base") = 10000.0f,
           py::arg("sink_tokens") = 0, py::arg("window_tokens") = 0)
      .def("append", &append, py::arg("seq"), py::arg("k"), py::arg("v"))
      .def("append_all", &append_all, py::arg("k"), py::arg("v"))
      .def(
          "reset",
          [](C& c, int64_t seq) {
            std::lock_guard l(c.mutex);
            c.cache.reset(seq);
          },
          py::arg("seq") = 0)
      .def(
          "length",
          [](C& c, int64_t s) {
            std::lock_guard l(c.mutex);
            return c.cache.length(s);
          },
          py::arg("seq") = 0)
      .def(
          "kept",
          [](C& c, int64_t s) {
            std::lock_guard l(c.mutex);
            return c.cache.kept(s);
          },
          py::arg("seq") = 0)
      .def(
          "position",
          [](C& c, int64_t s, int64_t i) {
            std::lock_guard l(c.mutex);
            ATTN_CHECK(s >= 0 && s < c.cache.config().batch, "seq ", s, " is out of range");
            ATTN_CHECK(i >= 0 && i < c.cache.kept(s), "index ", i, " is out of range");
            return c.cache.position(s, i);
          },
          py::arg("seq"), py::arg("index"))
      .def("read", &read, py::arg("seq"), py::arg("index"), py::arg("head"))
      .def_property_readonly("batch", [=](const C& c) { return cfg(c).batch; })
      .def_property_readonly("kv_heads", [=](const C& c) { return cfg(c).kv_heads; })
      .def_property_readonly("head_dim", [=](const C& c) { return cfg(c).head_dim; })
      .def_property_readonly("v_head_dim", [=](const C& c) { return cfg(c).v_head_dim; })
      .def_property_readonly("dtype", [=](const C& c) { return dtype_name(cfg(c).dtype); })
      .def_property_readonly(
          "layout",
          [=](const C& c) { return cfg(c).layout == KvLayout::kPaged ? "paged" : "contiguous"; })
      .def_property_readonly("bytes_per_token",
                             [](const C& c) { return c.cache.bytes_per_token(); })
      .def_property_readonly("blocks_in_use", [](const C& c) { return c.cache.blocks_in_use(); })
      .def_property_readonly("allocated_bytes",
                             [](const C& c) { return c.cache.allocated_bytes(); });
  m.def("decode_attention", &decode, py::arg("q"), py::arg("cache"), py::kw_only(),
        py::arg("scale") = py::none(), py::arg("softcap") = 0.0f, py::arg("return_lse") = false);
  m.def("apply_rope", &rope, py::arg("x"), py::arg("start") = 0, py::arg("base") = 10000.0f);
}

}  // namespace attn::python
