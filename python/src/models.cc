// attn.Gpt and attn.Llama: load a checkpoint, get logits for token ids, generate with the
// sampling options of the CLI (temperature, top_k, top_p, seed).
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "binding.h"

namespace attn::python {

namespace {

infer::Sampler make_sampler(float temperature, int64_t top_k, float top_p, uint64_t seed) {
  const infer::SamplerOptions options{temperature, top_k, top_p, seed};
  infer::validate(options);
  return infer::Sampler(options);
}

// logits [T, V] of a [1, T, V] tensor.
py::array_t<float> logits_array(const Tensor& t) {
  py::array_t<float> a(std::vector<py::ssize_t>{t.dim(1), t.dim(2)});
  std::copy(t.data(), t.data() + t.size(), a.mutable_data());
  return a;
}

void check_ids(const std::vector<int32_t>& ids, int64_t vocab, int64_t context) {
  ATTN_CHECK(!ids.empty(), "ids: empty");
  ATTN_CHECK(static_cast<int64_t>(ids.size()) <= context, "ids: ", ids.size(),
             " tokens, more than the model's context of ", context);
  for (int32_t id : ids)
    ATTN_CHECK(id >= 0 && id < vocab, "ids: ", id, " is not in [0, ", vocab, ")");
}

// A byte-level GPT: a checkpoint of `attn train`, or a new model with random weights.
struct PyGpt {
  std::mutex mutex;
  std::unique_ptr<model::GptGenerator> generator;

  model::Gpt& model() { return generator->model(); }

  py::array_t<float> logits(const std::vector<int32_t>& ids) {
    const model::GptConfig& c = model().config();
    check_ids(ids, c.vocab_size, c.context);
    return logits_array(without_gil([&] {
      std::lock_guard lock(mutex);
      return model().forward(ids, 1, static_cast<int64_t>(ids.size()), /*training=*/false);
    }));
  }

  // Generates `tokens` tokens after `prompt`: text (bytes as UTF-8) or a list of ids.
  py::object generate(const py::object& prompt, int64_t tokens, float temperature, int64_t top_k,
                      float top_p, uint64_t seed) {
    ATTN_CHECK(tokens >= 0, "tokens must be >= 0, got ", tokens);
    const bool text = py::isinstance<py::str>(prompt);
    const std::vector<int32_t> ids =
        text ? encode_bytes(prompt.cast<std::string>()) : prompt.cast<std::vector<int32_t>>();
    check_ids(ids, model().config().vocab_size, model().config().context);
    const infer::Sampler sampler = make_sampler(temperature, top_k, top_p, seed);
    std::vector<int32_t> out;
    without_gil([&] {
      std::lock_guard lock(mutex);
      generator->reset();
      generator->generate(ids, tokens, sampler, [&](int32_t t) { out.push_back(t); });
    });
    if (!text) return py::cast(out);
    Utf8Decoder decoder;
    std::string s;
    for (int32_t t : out) s += decoder.push(t);
    return py::str(s + decoder.flush());
  }

  void save(const std::string& path) {
    std::lock_guard lock(mutex);
    as_runtime_error([&] {
      save_parameters(path, model().parameters(),
                      {{"kind", "gpt"}, {"config", model().config().to_json()}});
    });
  }

  py::dict config() {
    const model::GptConfig& c = model().config();
    py::dict d;
    d["vocab_size"] = c.vocab_size, d["context"] = c.context, d["d_model"] = c.d_model;
    d["n_layers"] = c.n_layers, d["n_heads"] = c.n_heads, d["d_ff"] = c.d_ff;
    return d;
  }
};

std::unique_ptr<PyGpt> load_gpt(const std::string& path) {
  auto g = std::make_unique<PyGpt>();
  g->generator = as_runtime_error(
      [&] { return std::make_unique<model::GptGenerator>(model::GptGenerator::load(path)); });
  return g;
}

std::unique_ptr<PyGpt> new_gpt(int64_t vocab_size, int64_t context, int64_t d_model,
                               int64_t n_layers, int64_t n_heads, int64_t d_ff, uint64_t seed) {
  model::GptConfig c;
  c.vocab_size = vocab_size, c.context = context, c.d_model = d_model;
  c.n_layers = n_layers, c.n_heads = n_heads, c.d_ff = d_ff;
  model::validate(c);
  auto g = std::make_unique<PyGpt>();
  g->generator = std::make_unique<model::GptGenerator>(std::make_unique<model::Gpt>(c, seed));
  return g;
}

// A Llama-architecture model: llama2.c file or a "llama" safetensors checkpoint.
struct PyLlama {
  std::mutex mutex;
  std::unique_ptr<model::Llama> model;

  py::array_t<float> logits(const std::vector<int32_t>& ids) {
    check_ids(ids, model->config().vocab_size, model->config().seq_len);
    return logits_array(without_gil([&] {
      std::lock_guard lock(mutex);
      return model->forward(ids, 1, static_cast<int64_t>(ids.size()));
    }));
  }

  // Like `attn generate` for token-id models: prefill, then one token at a time, stopping at
  // the context; sampling step n draws with step index n.
  std::vector<int32_t> generate(std::vector<int32_t> prompt, int64_t tokens, float temperature,
                                int64_t top_k, float top_p, uint64_t seed,
                                const std::string& kv_dtype) {
    ATTN_CHECK(tokens >= 0, "tokens must be >= 0, got ", tokens);
    const int64_t vocab = model->config().vocab_size, context = model->config().seq_len;
    if (prompt.empty()) prompt = {1};
    check_ids(prompt, vocab, context);
    const infer::Sampler sampler = make_sampler(temperature, top_k, top_p, seed);
    const KvDtype dtype =
        kv_dtype == "f32"    ? KvDtype::kF32
        : kv_dtype == "f16"  ? KvDtype::kF16
        : kv_dtype == "bf16" ? KvDtype::kBF16
        : kv_dtype == "q8"
            ? KvDtype::kQ8
            : throw py::value_error("kv_dtype: '" + kv_dtype + "' is not f32, f16, bf16 or q8");
    const int64_t count = std::min<int64_t>(tokens, context - int64_t(prompt.size()));
    return without_gil([&] {
      std::lock_guard lock(mutex);
      return model->generate(prompt, count, sampler, dtype);
    });
  }

  py::dict config() {
    const LlamaConfig& c = model->config();
    py::dict d;
    d["dim"] = c.dim, d["hidden_dim"] = c.hidden_dim, d["n_layers"] = c.n_layers;
    d["n_heads"] = c.n_heads, d["n_kv_heads"] = c.n_kv_heads, d["vocab_size"] = c.vocab_size;
    d["seq_len"] = c.seq_len;
    return d;
  }
};

std::unique_ptr<PyLlama> load_llama(const std::string& path) {
  auto l = std::make_unique<PyLlama>();
  l->model = as_runtime_error([&] { return model::Llama::load(path); });
  return l;
}

}  // namespace

void bind_models(py::module_& m) {
  py::class_<PyGpt>(m, "Gpt",
                    "A byte-level GPT: Gpt.load(path) of an `attn train` checkpoint, or "
                    "Gpt(vocab_size=, context=, d_model=, n_layers=, n_heads=, d_ff=, seed=) "
                    "with random weights; logits(ids) → [T, V]; generate(prompt, tokens, "
                    "temperature=, top_k=, top_p=, seed=) → text for a str prompt, ids for ids; "
                    "save(path).")
      .def_static("load", &load_gpt, py::arg("path"))
      .def(py::init(&new_gpt), py::kw_only(), py::arg("vocab_size") = 256, py::arg("context") = 256,
           py::arg("d_model") = 256, py::arg("n_layers") = 4, py::arg("n_heads") = 4,
           py::arg("d_ff") = 0, py::arg("seed") = 0)
      .def("logits", &PyGpt::logits, py::arg("ids"))
      .def("generate", &PyGpt::generate, py::arg("prompt"), py::arg("tokens") = 200, py::kw_only(),
           py::arg("temperature") = 1.0f, py::arg("top_k") = 0, py::arg("top_p") = 1.0f,
           py::arg("seed") = 0)
      .def("save", &PyGpt::save, py::arg("path"))
      .def_property_readonly("config", &PyGpt::config);
  py::class_<PyLlama>(m, "Llama",
                      "A Llama-architecture model: Llama.load(path) of a llama2.c file or a "
                      "'llama' safetensors checkpoint; logits(ids) → [T, V]; generate(prompt_ids, "
                      "tokens, temperature=, top_k=, top_p=, seed=, kv_dtype=) → ids, as "
                      "`attn generate` (stops at the context).")
      .def_static("load", &load_llama, py::arg("path"))
      .def("logits", &PyLlama::logits, py::arg("ids"))
      .def("generate", &PyLlama::generate, py::arg("prompt") = std::vector<int32_t>{1},
           py::arg("tokens") = 200, py::kw_only(), py::arg("temperature") = 1.0f,
           py::arg("top_k") = 0, py::arg("top_p") = 1.0f, py::arg("seed") = 0,
           py::arg("kv_dtype") = "f32")
      .def_property_readonly("config", &PyLlama::config);
}

}  // namespace attn::python
