// Loading checkpoints in the llama2.c format (float32, little-endian).
//
// Header: seven int32 — dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a
// negative vocab_size means a separate classifier follows the weights. Then, layer-stacked:
// token_embedding [vocab, dim]; rms_att [L, dim]; wq [L, dim, dim]; wk [L, kv_dim, dim];
// wv [L, kv_dim, dim]; wo [L, dim, dim]; rms_ffn [L, dim]; w1 [L, hidden, dim];
// w2 [L, dim, hidden]; w3 [L, hidden, dim]; rms_final [dim]; two legacy RoPE tables of
// seq_len·head_size/2 floats (skipped); wcls [vocab, dim] when vocab_size was negative.
// Matrices are row-major [out, in].
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attn {

// The shape of a Llama-architecture model.
struct LlamaConfig {
  int64_t dim = 0;         // model width
  int64_t hidden_dim = 0;  // SwiGLU hidden width
  int64_t n_layers = 0;
  int64_t n_heads = 0;     // query heads
  int64_t n_kv_heads = 0;  // key/value heads (grouped-query attention when fewer)
  int64_t vocab_size = 0;
  int64_t seq_len = 0;            // longest context
  bool shared_classifier = true;  // the output projection is the token embedding
  float norm_eps = 1e-5f;
  float rope_base = 10000.0f;

  int64_t head_size() const { return dim / n_heads; }
  int64_t kv_dim() const { return dim * n_kv_heads / n_heads; }
};

// Throws attn::Error unless every size is positive and consistent (n_heads a multiple of
// n_kv_heads, dim a multiple of n_heads, an even head size for RoPE).
void validate(const LlamaConfig& c);

// The config as JSON, and back: from JSON, or from the seven llama2.c header fields as numbers
// ("dim hidden_dim n_layers n_heads n_kv_heads vocab_size seq_len"); validated either way.
std::string to_json(const LlamaConfig& c);
LlamaConfig llama_config_from_text(const std::string& text);

// The weights of one layer, row-major [out, in].
struct LlamaLayerWeights {
  std::vector<float> rms_att;  // [dim]
  std::vector<float> wq;       // [dim, dim]
  std::vector<float> wk;       // [kv_dim, dim]
  std::vector<float> wv;       // [kv_dim, dim]
  std::vector<float> wo;       // [dim, dim]
  std::vector<float> rms_ffn;  // [dim]
  std::vector<float> w1;       // [hidden, dim]
  std::vector<float> w2;       // [dim, hidden]
  std::vector<float> w3;       // [hidden, dim]
};

struct LlamaWeights {
  std::vector<float> token_embedding;  // [vocab, dim]
  std::vector<LlamaLayerWeights> layers;
  std::vector<float> rms_final;  // [dim]
  std::vector<float> wcls;       // [vocab, dim]; empty when shared with token_embedding
};

struct Llama2cCheckpoint {
  LlamaConfig config;
  LlamaWeights weights;
};

// Reads a llama2.c checkpoint; throws attn::Error naming the file and the problem when it is
// truncated, too long, or its header is inconsistent.
Llama2cCheckpoint read_llama2c(const std::string& path);

}  // namespace attn
