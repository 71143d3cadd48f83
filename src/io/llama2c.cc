#include "attn/io/llama2c.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "attn/core/config_fields.h"
#include "attn/core/error.h"

namespace attn {

namespace {

// The seven size fields first, in the order of the llama2.c header.
constexpr double kMaxSize = 1 << 24;
const ConfigField<LlamaConfig> kLlamaFields[] = {
    {"dim", &LlamaConfig::dim, 1, kMaxSize, ConfigWrite::kAlways, false, true},
    {"hidden_dim", &LlamaConfig::hidden_dim, 1, kMaxSize, ConfigWrite::kAlways, false, true},
    {"n_layers", &LlamaConfig::n_layers, 1, kMaxSize, ConfigWrite::kAlways, false, true},
    {"n_heads", &LlamaConfig::n_heads, 1, kMaxSize, ConfigWrite::kAlways, false, true},
    {"n_kv_heads", &LlamaConfig::n_kv_heads, 1, kMaxSize, ConfigWrite::kAlways, false, true},
    {"vocab_size", &LlamaConfig::vocab_size, 1, kMaxSize, ConfigWrite::kAlways, false, true},
    {"seq_len", &LlamaConfig::seq_len, 1, kMaxSize, ConfigWrite::kAlways, false, true},
    {"shared_classifier", &LlamaConfig::shared_classifier},
    {.name = "norm_eps", .member = &LlamaConfig::norm_eps, .min = 0, .min_exclusive = true},
    {.name = "rope_base", .member = &LlamaConfig::rope_base, .min = 0, .min_exclusive = true},
};
constexpr size_t kHeaderFields = 7;

}  // namespace

void validate(const LlamaConfig& c) {
  check_config_ranges(c, kLlamaFields, "model config");
  ATTN_CHECK(c.n_heads % c.n_kv_heads == 0, "model config: n_heads = ", c.n_heads,
             " is not a multiple of n_kv_heads = ", c.n_kv_heads);
  ATTN_CHECK(c.dim % c.n_heads == 0, "model config: dim = ", c.dim,
             " is not a multiple of n_heads = ", c.n_heads);
  ATTN_CHECK(c.head_size() % 2 == 0, "model config: head size ", c.head_size(),
             " must be even for RoPE");
}

std::string to_json(const LlamaConfig& c) { return config_to_json(c, kLlamaFields); }

LlamaConfig llama_config_from_text(const std::string& text) {
  LlamaConfig c;
  if (text.find('{') != std::string::npos) {
    c = config_from_json(text, kLlamaFields, c, "model config");
  } else {  // the seven header fields as numbers
    std::istringstream in(text);
    const std::vector<BoundField> fields = bind_fields(c, kLlamaFields);
    for (size_t i = 0; i < kHeaderFields; ++i) {
      long long value = 0;
      ATTN_CHECK(static_cast<bool>(in >> value), "model config: '", text,
                 "' is neither JSON nor the seven llama2.c header fields");
      *std::get<int64_t*>(fields[i].pointer) = value;
    }
  }
  validate(c);
  return c;
}

namespace {

// Reads consecutive float arrays out of the checkpoint's bytes.
class FloatCursor {
 public:
  FloatCursor(const std::vector<uint8_t>& bytes, size_t offset, const std::string& path)
      : bytes_(bytes), offset_(offset), path_(path) {}

  std::vector<float> take(int64_t count, const char* what) {
    const size_t size = static_cast<size_t>(count) * sizeof(float);
    ATTN_CHECK(offset_ + size <= bytes_.size(), path_, ": truncated checkpoint: ", what, " needs ",
               size, " bytes at offset ", offset_, " but the file has ", bytes_.size());
    std::vector<float> out(static_cast<size_t>(count));
    std::memcpy(out.data(), bytes_.data() + offset_, size);
    offset_ += size;
    return out;
  }
  void skip(int64_t count) { offset_ += static_cast<size_t>(count) * sizeof(float); }
  size_t offset() const { return offset_; }

 private:
  const std::vector<uint8_t>& bytes_;
  size_t offset_;
  const std::string& path_;
};

LlamaConfig read_header(const std::vector<uint8_t>& bytes, const std::string& path) {
  ATTN_CHECK(bytes.size() >= 7 * sizeof(int32_t), path, ": not a llama2.c checkpoint (",
             bytes.size(), " bytes)");
  int32_t h[7];
  std::memcpy(h, bytes.data(), sizeof h);
  LlamaConfig c;
  c.dim = h[0];
  c.hidden_dim = h[1];
  c.n_layers = h[2];
  c.n_heads = h[3];
  c.n_kv_heads = h[4];
  c.shared_classifier = h[5] > 0;
  c.vocab_size = h[5] > 0 ? h[5] : -int64_t{h[5]};
  c.seq_len = h[6];
  try {
    validate(c);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  return c;
}

// One matrix of every layer, as stored: layer-stacked [n_layers, rows, cols].
template <typename Field>
void take_stacked(FloatCursor& in, LlamaWeights& w, Field field, int64_t per_layer,
                  const char* what) {
  for (LlamaLayerWeights& layer : w.layers) layer.*field = in.take(per_layer, what);
}

}  // namespace

Llama2cCheckpoint read_llama2c(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  ATTN_CHECK(file.good(), path, ": cannot open model: ", std::strerror(errno));
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(file)),
                                   std::istreambuf_iterator<char>());
  Llama2cCheckpoint ckpt;
  LlamaConfig& c = ckpt.config = read_header(bytes, path);
  LlamaWeights& w = ckpt.weights;
  FloatCursor in(bytes, 7 * sizeof(int32_t), path);
  const int64_t d = c.dim, kv = c.kv_dim(), hidden = c.hidden_dim;
  w.token_embedding = in.take(c.vocab_size * d, "token_embedding");
  w.layers.resize(static_cast<size_t>(c.n_layers));
  take_stacked(in, w, &LlamaLayerWeights::rms_att, d, "rms_att");
  take_stacked(in, w, &LlamaLayerWeights::wq, d * d, "wq");
  take_stacked(in, w, &LlamaLayerWeights::wk, kv * d, "wk");
  take_stacked(in, w, &LlamaLayerWeights::wv, kv * d, "wv");
  take_stacked(in, w, &LlamaLayerWeights::wo, d * d, "wo");
  take_stacked(in, w, &LlamaLayerWeights::rms_ffn, d, "rms_ffn");
  take_stacked(in, w, &LlamaLayerWeights::w1, hidden * d, "w1");
  take_stacked(in, w, &LlamaLayerWeights::w2, d * hidden, "w2");
  take_stacked(in, w, &LlamaLayerWeights::w3, hidden * d, "w3");
  w.rms_final = in.take(d, "rms_final");
  in.skip(c.seq_len * c.head_size());  // the two legacy RoPE tables, seq_len·head_size/2 each
  if (!c.shared_classifier) w.wcls = in.take(c.vocab_size * d, "wcls");
  ATTN_CHECK(in.offset() == bytes.size(), path, ": checkpoint has ", bytes.size(),
             " bytes but its header describes ", in.offset(), " (sizes do not add up)");
  return ckpt;
}

}  // namespace attn
